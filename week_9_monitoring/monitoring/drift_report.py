"""Compare recent prediction events with the exported model's reference statistics (drift.py).

    python -m monitoring.drift_report                        # the last 24 hours, from OpenSearch
    python -m monitoring.drift_report --events service.log   # events from a file: no OpenSearch
    python -m monitoring.drift_report --set monitoring.drift.window_hours=1

Prints one line per feature and writes an HTML report with plots (the config's
monitoring.report_dir: drift_report.html, drift_report.png). Reading from OpenSearch, it also
records the results in the cola-drift index, which the dashboard's drift panel shows.

Events with missing, null or out-of-range features are left out, each feature's count named in
a `warning:` line; a request of many sentences counts once (drift.py says why).
Exit status: 0 no drift, 1 drift (one `drift:` line per feature that alerts), 2 an error (bad
input or set-up), 3 no data: fewer requests in the window than monitoring.drift.min_events, so
no verdict. A window with no traffic is a finding too: the pipeline may have stopped.
"""

import argparse
import html
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from monitoring.drift import NUMERIC, FeatureDrift, LeftOut, compare, one_per_request, usable
from monitoring.prediction_log import timestamp
from monitoring.reports import plt, save_figure, table, write_page
from monitoring.shipper import index_prefix, load_template, make_client, read_events
from prediction import LABELS

DRIFT_TEMPLATE_FILE = Path(__file__).resolve().parent / "drift_index_template.json"
NO_DATA = 3  # the exit status when the window holds too few requests for a verdict


def events_from_opensearch(client: object, hours: float, now: datetime) -> list[dict]:
    """Every prediction event of the `hours` before `now`, oldest first (search_after pages).
    The window goes to the server as two instants: this clock decides it, not the server's."""
    index = f"{index_prefix(load_template())}-*"
    window = {"gte": timestamp(now - timedelta(hours=hours)), "lte": timestamp(now)}
    body = {"size": 5000, "sort": [{"@timestamp": "asc"}, {"event_id": "asc"}],
            "query": {"range": {"@timestamp": window}}}
    events = []
    while True:
        hits = client.search(index=index, body=body, ignore_unavailable=True)["hits"]["hits"]
        events += [hit["_source"] for hit in hits]
        if len(hits) < body["size"]:
            return events
        body["search_after"] = hits[-1]["sort"]


def record(client: object, results: list[FeatureDrift], events: int) -> None:
    """The results as documents of the drift index: one per feature, one run id."""
    template = json.loads(DRIFT_TEMPLATE_FILE.read_text(encoding="utf-8"))
    index = template["index_patterns"][0]
    client.indices.put_index_template(name=index, body=template)
    now = timestamp(datetime.now(UTC))
    run_id = uuid.uuid4().hex
    body = []
    for result in results:
        body.append({"create": {"_index": index, "_id": f"{run_id}-{result.feature}"}})
        body.append({"@timestamp": now, "run_id": run_id, "events": events, **result.as_dict()})
    response = client.bulk(body=body, refresh="true")
    if response.get("errors"):
        raise ValueError(f"the drift index refused the results: {json.dumps(response)[:300]}")


def plot(reference: dict, events: list[dict], results: list[FeatureDrift]) -> plt.Figure:
    """Reference against current window: one panel per feature."""
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.2))
    verdicts = {r.feature: r for r in results}
    for ax, feature in zip(axes, NUMERIC, strict=False):
        ref = np.array(reference["numeric"][feature])
        cur = np.array([e[feature] for e in events], dtype=float)
        bins = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=30)
        ax.hist(ref, bins, density=True, alpha=0.5, label="reference")
        ax.hist(cur, bins, density=True, alpha=0.5, label="window")
        ax.legend(fontsize=8)
    ax = axes[-1]
    ref_counts = np.array([reference["label"][label] for label in LABELS], dtype=float)
    cur_counts = np.array([sum(e["label"] == label for e in events) for label in LABELS], float)
    x = np.arange(len(LABELS))
    ax.bar(x - 0.2, ref_counts / ref_counts.sum(), 0.4, label="reference")
    ax.bar(x + 0.2, cur_counts / cur_counts.sum(), 0.4, label="window")
    ax.set_xticks(x, LABELS)
    ax.legend(fontsize=8)
    for ax, feature in zip(axes, [*NUMERIC, "label"], strict=True):
        verdict = verdicts[feature]
        ax.set_title(f"{feature}\np={verdict.p_value:.2g} PSI={verdict.psi:.2f}",
                     color="#b00020" if verdict.alert else "black", fontsize=10)
    fig.tight_layout()
    return fig


def write_report(out_dir: Path, reference: dict, events: list[dict],
                 results: list[FeatureDrift], source: str, left_out: list[LeftOut]) -> Path:
    image = save_figure(plot(reference, events, results), out_dir / "drift_report.png")
    rows = [[r.feature, r.test, f"{r.statistic:.4g}", f"{r.p_value:.3g}", f"{r.psi:.3f}",
             "DRIFT" if r.alert else "ok"] for r in results]
    status = ("<p class='alert'>Drift in " + ", ".join(r.feature for r in results if r.alert)
              + "</p>" if any(r.alert for r in results) else "<p>No drift.</p>")
    skipped = "".join(f"<p>Left out: {html.escape(entry.line())}</p>" for entry in left_out)
    return write_page(out_dir / "drift_report.html", "CoLA model: input drift", status,
                      f"<p>{len(events)} requests from {html.escape(source)} against the "
                      f"reference of {reference['events']} validation sentences "
                      f"({reference.get('data')}).</p>{skipped}",
                      table(["feature", "test", "statistic", "p-value", "PSI", "verdict"], rows),
                      image)


def main(argv: list[str] | None = None) -> int:
    from opensearchpy.exceptions import OpenSearchException

    from config_schema import (
        CONFIG_ERRORS,
        add_override_option,
        check_monitoring,
        load_config,
    )

    parser = argparse.ArgumentParser(description="Drift of recent inputs against the reference.")
    parser.add_argument("--events", metavar="FILE", help="read events from a log file instead")
    add_override_option(parser)
    args = parser.parse_args(argv)
    try:
        cfg = load_config(*args.set)
        check_monitoring(cfg)
        drift = cfg.monitoring.drift
        path = Path(cfg.monitoring.reference)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no reference statistics (dvc repro reference, "
                                    f"or python -m monitoring.reference)")
        reference = json.loads(path.read_text(encoding="utf-8"))
        client = None
        if args.events:
            with open(args.events, encoding="utf-8", errors="replace") as f:
                events, source = list(read_events(f)), args.events
        else:
            client = make_client(cfg.monitoring.opensearch, cfg.monitoring.aws_region)
            events = events_from_opensearch(client, drift.window_hours, datetime.now(UTC))
            source = f"{cfg.monitoring.opensearch} (last {drift.window_hours:g} h)"
        judged, left_out = usable(events)
        if events and not judged:
            raise ValueError(f"none of the {len(events)} events from {source} can be judged: "
                             + "; ".join(entry.line() for entry in left_out))
        for entry in left_out:
            print(f"warning: {entry.line()}", file=sys.stderr)
        sample = one_per_request(judged)
        if len(sample) < drift.min_events:
            print(f"{len(sample)} requests ({len(events)} events) from {source}: fewer than "
                  f"monitoring.drift.min_events ({drift.min_events}), no verdict "
                  f"(exit status {NO_DATA})", file=sys.stderr)
            return NO_DATA
        results = compare(reference, sample, drift.p_value, drift.psi)
        if client is not None:
            record(client, results, len(sample))
        report = write_report(Path(cfg.monitoring.report_dir), reference, sample, results,
                              source, left_out)
    except (OSError, ValueError, KeyError, OpenSearchException, *CONFIG_ERRORS) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for result in results:
        print(result.line())
    print(f"{len(sample)} requests from {source}; report: {report}")
    alerts = [r for r in results if r.alert]
    for result in alerts:
        print(f"drift: {result.line()}", file=sys.stderr)
    return 1 if alerts else 0


if __name__ == "__main__":
    sys.exit(main())
