"""The monitoring dashboard, defined once (PANELS) and turned into two things:

    python -m monitoring.dashboard export   # monitoring/dashboards.ndjson: saved objects that
                                            # import into OpenSearch Dashboards
                                            # (make dashboards-import)
    python -m monitoring.dashboard report   # the same panels from the same aggregations over
                                            # the last 24 hours, drawn with matplotlib:
                                            # <report_dir>/dashboard.html and dashboard.png,
                                            # their numbers in dashboard.json

Each panel is one metric aggregation over one bucket aggregation of an index: the saved
visualisation asks OpenSearch Dashboards for exactly that, and the report sends it as a query.
"""

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitoring.prediction_log import timestamp
from monitoring.reports import plt, save_figure, write_page
from monitoring.shipper import index_prefix, load_template

HERE = Path(__file__).resolve().parent
NDJSON = HERE / "dashboards.ndjson"
DRIFT_TEMPLATE = json.loads((HERE / "drift_index_template.json").read_text())
INDEX_PATTERNS = {"cola-predictions": f"{index_prefix(load_template())}-*",  # id: title
                  "cola-drift": DRIFT_TEMPLATE["index_patterns"][0]}
DASHBOARD_ID = "cola-monitoring"
TIME_RANGE = "now-24h"        # what OpenSearch Dashboards shows; the report: REPORT_WINDOW
REPORT_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Agg:
    type: str                 # count, percentiles, max | date_histogram, terms, histogram
    field: str | None = None
    params: dict = dataclasses.field(default_factory=dict)  # as OpenSearch Dashboards names them


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    vis: str                  # the visualisation type: line, pie, histogram, table
    index: str                # the index pattern's id, a key of INDEX_PATTERNS
    metric: Agg
    bucket: Agg
    x_range: tuple[float, float] | None = None  # the report's fixed x axis, if any


PANELS = [
    Panel("cola-predictions-over-time", "Predictions per hour", "line", "cola-predictions",
          Agg("count"), Agg("date_histogram", "@timestamp", {"interval": "h"})),
    Panel("cola-label-ratio", "Predicted labels", "pie", "cola-predictions",
          Agg("count"), Agg("terms", "label", {"size": 2})),
    Panel("cola-score-histogram", "Model confidence (score)", "histogram", "cola-predictions",
          Agg("count"), Agg("histogram", "score", {"interval": 0.05}), x_range=(0.5, 1.0)),
    Panel("cola-latency-p95", "Model latency p95 (ms)", "line", "cola-predictions",
          Agg("percentiles", "latency_ms", {"percents": [95]}),
          Agg("date_histogram", "@timestamp", {"interval": "h"})),
    Panel("cola-drift-status", "Drift: largest PSI per feature", "table", "cola-drift",
          Agg("max", "psi"), Agg("terms", "feature", {"size": 10})),
    # what drifts first: the inputs
    Panel("cola-tokens-over-time", "Mean sentence length per hour (tokens)", "line",
          "cola-predictions", Agg("avg", "text_tokens"),
          Agg("date_histogram", "@timestamp", {"interval": "h"})),
    Panel("cola-unknown-share-over-time", "Mean share of unknown tokens per hour", "line",
          "cola-predictions", Agg("avg", "unk_share"),
          Agg("date_histogram", "@timestamp", {"interval": "h"})),
    Panel("cola-models", "Events per model (sha256)", "table", "cola-predictions",
          Agg("count"), Agg("terms", "model_sha256", {"size": 5})),
]
COLUMNS = 4  # of the dashboard's grid and of the report's picture
# the field type each aggregation needs (the test checks the index mappings against this)
FIELD_TYPES = {"date_histogram": {"date"}, "terms": {"keyword"},
               "histogram": {"integer", "float"}, "percentiles": {"integer", "float"},
               "max": {"integer", "float"}, "avg": {"integer", "float"}}
ALERT_COLOUR, COLOUR = "#b00020", "#1f77b4"


# --- saved objects for OpenSearch Dashboards -------------------------------------------------

def vis_state(panel: Panel) -> dict:
    bucket_schema = "bucket" if panel.vis == "table" else "segment"
    aggs = [{"id": "1", "enabled": True, "type": panel.metric.type, "schema": "metric",
             "params": {**({"field": panel.metric.field} if panel.metric.field else {}),
                        **panel.metric.params}},
            {"id": "2", "enabled": True, "type": panel.bucket.type, "schema": bucket_schema,
             "params": {"field": panel.bucket.field, **panel.bucket.params}}]
    return {"title": panel.title, "type": panel.vis,
            "params": {"type": panel.vis, "addTooltip": True, "addLegend": True}, "aggs": aggs}


def search_source(index_ref: bool) -> str:
    source = {"query": {"query": "", "language": "kuery"}, "filter": []}
    if index_ref:
        source["indexRefName"] = "kibanaSavedObjectMeta.searchSourceJSON.index"
    return json.dumps(source)


def saved_objects() -> list[dict]:
    objects = [{"type": "index-pattern", "id": key, "references": [],
                "attributes": {"title": pattern, "timeFieldName": "@timestamp"}}
               for key, pattern in INDEX_PATTERNS.items()]
    for panel in PANELS:
        objects.append({"type": "visualization", "id": panel.id, "attributes": {
            "title": panel.title, "visState": json.dumps(vis_state(panel)), "uiStateJSON": "{}",
            "description": "", "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": search_source(True)}},
            "references": [{"name": "kibanaSavedObjectMeta.searchSourceJSON.index",
                            "type": "index-pattern", "id": panel.index}]})
    grid = [{"version": "2.19.0", "panelIndex": str(i + 1), "embeddableConfig": {},
             "gridData": {"x": 12 * (i % COLUMNS), "y": 15 * (i // COLUMNS), "w": 12, "h": 15,
                          "i": str(i + 1)}, "panelRefName": f"panel_{i}"}
            for i in range(len(PANELS))]
    objects.append({"type": "dashboard", "id": DASHBOARD_ID, "attributes": {
        "title": "CoLA model monitoring", "description": "", "version": 1, "hits": 0,
        "panelsJSON": json.dumps(grid), "optionsJSON": json.dumps(
            {"useMargins": True, "hidePanelTitles": False}),
        "timeRestore": True, "timeFrom": TIME_RANGE, "timeTo": "now",
        "refreshInterval": {"pause": False, "value": 60000},
        "kibanaSavedObjectMeta": {"searchSourceJSON": search_source(False)}},
        "references": [{"name": f"panel_{i}", "type": "visualization", "id": panel.id}
                       for i, panel in enumerate(PANELS)]})
    return objects


def to_ndjson(objects: list[dict]) -> str:
    return "".join(json.dumps(o, sort_keys=True) + "\n" for o in objects)


# --- the same panels as queries, and the static report ---------------------------------------

def query(panel: Panel, now: datetime) -> dict:
    """The search body for a panel over the REPORT_WINDOW that ends at `now`. The window is
    sent as two instants, not as "now-24h": the caller's clock decides it, not the server's."""
    bucket = {"field": panel.bucket.field}
    if panel.bucket.type == "date_histogram":
        bucket["fixed_interval"] = "1" + panel.bucket.params["interval"]
    else:
        bucket |= panel.bucket.params
    aggs = {"2": {panel.bucket.type: bucket}}
    if panel.metric.type != "count":  # a bucket's doc_count is the count
        aggs["2"]["aggs"] = {"1": {panel.metric.type: {"field": panel.metric.field,
                                                       **panel.metric.params}}}
    return {"size": 0, "aggs": aggs,
            "query": {"range": {"@timestamp": {"gte": timestamp(now - REPORT_WINDOW),
                                               "lte": timestamp(now)}}}}


def values(panel: Panel, response: dict) -> tuple[list, list[float]]:
    """(bucket keys, metric values) from a panel's search response."""
    keys, ys = [], []
    for bucket in response["aggregations"]["2"]["buckets"]:
        keys.append(bucket.get("key_as_string", bucket["key"]))
        if panel.metric.type == "count":
            ys.append(bucket["doc_count"])
        elif panel.metric.type == "percentiles":
            ys.append(next(iter(bucket["1"]["values"].values())) or 0.0)
        else:
            ys.append(bucket["1"]["value"] or 0.0)
    return keys, ys


def draw(results: list[tuple[Panel, list, list[float]]], title: str,
         psi_limit: float) -> plt.Figure:
    """The panels in a grid under `title`; drift bars above `psi_limit` in the alert colour,
    with the limit drawn."""
    rows = -(-len(results) // COLUMNS)
    fig, axes = plt.subplots(rows, COLUMNS, figsize=(5 * COLUMNS, 3.8 * rows), squeeze=False)
    for ax, (panel, keys, ys) in zip(axes.flat, results, strict=False):
        ax.set_title(panel.title, fontsize=10)
        if not keys:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        elif panel.vis == "pie":
            ax.pie(ys, labels=keys, autopct="%1.0f%%")
        elif panel.vis == "histogram":
            ax.bar(keys, ys, width=panel.bucket.params["interval"], align="edge",
                   edgecolor="white")
        elif panel.vis == "line":
            ax.plot([k[5:16].replace("T", " ") for k in keys], ys, marker="o")
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
            ax.set_xlabel("hour (UTC)", fontsize=8)
        elif panel.index == "cola-drift":
            ax.barh(keys, ys, color=[ALERT_COLOUR if y > psi_limit else COLOUR for y in ys])
            ax.axvline(psi_limit, color=ALERT_COLOUR, linestyle="--",
                       label=f"alert above {psi_limit:g}")
            ax.legend(fontsize=8)
        else:  # table: a bar per row
            ax.barh([str(k)[:12] for k in keys], ys)
        if keys and panel.x_range:
            ax.set_xlim(*panel.x_range)
    for ax in axes.flat[len(results):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig


def report(client: object, out_dir: Path, now: datetime, psi_limit: float) -> Path:
    """The panels over the REPORT_WINDOW that ends at `now`: dashboard.html (the picture) and
    dashboard.json (the numbers each panel draws: bucket keys and values)."""
    now, results = now.astimezone(UTC), []
    for panel in PANELS:
        response = client.search(index=INDEX_PATTERNS[panel.index], body=query(panel, now),
                                 ignore_unavailable=True)
        results.append((panel, *values(panel, response)))
    numbers = {panel.id: {"keys": keys, "values": ys} for panel, keys, ys in results}
    events = sum(numbers["cola-models"]["values"])
    models = [key[:12] for key in numbers["cola-models"]["keys"]]
    window = f"{now - REPORT_WINDOW:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC"
    title = (f"CoLA model monitoring, {window}: {events} prediction events; model "
             f"{', '.join(models) or 'none'}")
    image = save_figure(draw(results, title, psi_limit), out_dir / "dashboard.png")
    summary = {"window": {"from": timestamp(now - REPORT_WINDOW), "to": timestamp(now)},
               "events": events, "models": models, "psi_limit": psi_limit, "panels": numbers}
    (out_dir / "dashboard.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return write_page(out_dir / "dashboard.html", title, image)


def main(argv: list[str] | None = None) -> int:
    from opensearchpy.exceptions import OpenSearchException

    from config_schema import CONFIG_ERRORS, add_override_option, load_config
    from monitoring.shipper import make_client

    parser = argparse.ArgumentParser(description="The monitoring dashboard as files.")
    parser.add_argument("action", choices=["export", "report"])
    add_override_option(parser)
    args = parser.parse_args(argv)
    if args.action == "export":
        NDJSON.write_text(to_ndjson(saved_objects()), encoding="utf-8")
        print(f"{len(saved_objects())} saved objects: {NDJSON}")
        return 0
    try:
        cfg = load_config(*args.set).monitoring
        page = report(make_client(cfg.opensearch, cfg.aws_region), Path(cfg.report_dir),
                      datetime.now(UTC), cfg.drift.psi)
    except (OSError, KeyError, OpenSearchException, *CONFIG_ERRORS) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"dashboard report: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
