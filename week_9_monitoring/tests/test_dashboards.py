"""The dashboard as files: the saved objects are the ones PANELS defines, every field a
visualisation uses exists in its index's mapping with a type its aggregation accepts, the
references resolve, and the static report draws the same aggregations' answers."""

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex
from opensearchpy import OpenSearch

from helpers import make_events
from monitoring import dashboard
from monitoring.dashboard import FIELD_TYPES, INDEX_PATTERNS, NDJSON, PANELS, saved_objects
from monitoring.drift import FeatureDrift
from monitoring.drift_report import DRIFT_TEMPLATE_FILE, record
from monitoring.reports import plt
from monitoring.shipper import Shipper, dead_letter_file, load_template

MAPPINGS = {"cola-predictions": load_template()["template"]["mappings"]["properties"],
            "cola-drift": json.loads(DRIFT_TEMPLATE_FILE.read_text())["template"]["mappings"][
                "properties"]}


def objects() -> list[dict]:
    return [json.loads(line) for line in NDJSON.read_text().splitlines()]


def test_the_ndjson_file_is_what_dashboard_py_exports() -> None:
    assert objects() == saved_objects(), "run: make dashboards"


def test_every_field_a_visualisation_uses_is_mapped_with_the_right_type() -> None:
    checked = 0
    for obj in (o for o in objects() if o["type"] == "visualization"):
        (reference,) = obj["references"]
        mapping = MAPPINGS[reference["id"]]
        for agg in json.loads(obj["attributes"]["visState"])["aggs"]:
            if agg["type"] == "count":
                continue
            field = agg["params"]["field"]
            assert field in mapping, f"{obj['id']}: {field} is not in {reference['id']}"
            assert mapping[field]["type"] in FIELD_TYPES[agg["type"]], (obj["id"], field)
            checked += 1
    assert checked == 12  # 8 bucket aggregations, 4 metrics that read a field (p95, max, 2 avg)


def test_references_resolve() -> None:
    by_id = {(o["type"], o["id"]): o for o in objects()}
    for obj in objects():
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in by_id, (obj["id"], ref)
    for pattern_id, title in INDEX_PATTERNS.items():
        assert by_id[("index-pattern", pattern_id)]["attributes"]["title"] == title
    (board,) = [o for o in objects() if o["type"] == "dashboard"]
    panels = json.loads(board["attributes"]["panelsJSON"])
    names = {ref["name"]: ref["id"] for ref in board["references"]}
    assert [names[p["panelRefName"]] for p in panels] == [p.id for p in PANELS]
    for obj in objects():  # every search source names its index through the references
        source = obj["attributes"].get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
        if source and "indexRefName" in json.loads(source):
            assert json.loads(source)["indexRefName"] in {r["name"] for r in obj["references"]}


def test_the_index_patterns_match_the_index_templates() -> None:
    assert INDEX_PATTERNS["cola-predictions"] in load_template()["index_patterns"]
    assert INDEX_PATTERNS["cola-drift"] in json.loads(DRIFT_TEMPLATE_FILE.read_text())[
        "index_patterns"]


def test_the_report_shows_the_shipped_events_in_every_panel(opensearch: str,
                                                            tmp_path: Path) -> None:
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    events = make_events(240, start=hour - timedelta(hours=3), step_s=30)  # two whole hours
    too_old = make_events(20, start=now - timedelta(hours=30))             # outside the window
    for i, event in enumerate(too_old):
        event["event_id"] = f"old{i}-0"
    client = OpenSearch([opensearch])
    Shipper(client, dead_letter_file(tmp_path / "dead.jsonl")).ship(events + too_old)
    record(client, [FeatureDrift("text_chars", "ks", 0.1, 0.4, 0.05, False),
                    FeatureDrift("label", "chi2", 9.0, 0.002, 0.31, True)], len(events))
    assert dashboard.main(["report", "--set", f"monitoring.opensearch={opensearch}",
                           "--set", f"monitoring.report_dir={tmp_path}"]) == 0

    shown = json.loads((tmp_path / "dashboard.json").read_text())["panels"]
    assert set(shown) == {p.id for p in PANELS}
    panel = {key: dict(zip(p["keys"], p["values"], strict=True)) for key, p in shown.items()}
    assert all(panel.values()), "a panel without data"
    per_hour = defaultdict(list)
    for event in events:
        per_hour[event["@timestamp"][:13]].append(event["latency_ms"])
    assert {k[:13]: v for k, v in panel["cola-predictions-over-time"].items()} == {
        k: len(v) for k, v in per_hour.items()} == {f"{hour - timedelta(hours=h):%Y-%m-%dT%H}": 120
                                                     for h in (3, 2)}
    assert panel["cola-label-ratio"] == Counter(e["label"] for e in events)
    scores = Counter(round(e["score"] * 1000) // 50 * 50 / 1000 for e in events)  # 0.05 bins
    assert {round(k, 2): v for k, v in panel["cola-score-histogram"].items()} == scores
    p95 = {k[:13]: v for k, v in panel["cola-latency-p95"].items()}
    assert p95 == pytest.approx({k: np.percentile(v, 95) for k, v in per_hour.items()}, abs=0.2)
    assert panel["cola-drift-status"] == pytest.approx({"text_chars": 0.05, "label": 0.31})
    for feature in ("text_tokens", "unk_share"):
        by_hour = defaultdict(list)
        for event in events:
            by_hour[event["@timestamp"][:13]].append(event[feature])
        shown_means = {k[:13]: v for k, v in panel[{
            "text_tokens": "cola-tokens-over-time",
            "unk_share": "cola-unknown-share-over-time"}[feature]].items()}
        assert shown_means == pytest.approx({k: np.mean(v) for k, v in by_hour.items()})
    assert panel["cola-models"] == {"ab" * 32: 240}
    summary = json.loads((tmp_path / "dashboard.json").read_text())
    assert (summary["events"], summary["models"], summary["psi_limit"]) == (240, ["ab" * 6], 0.2)
    page = (tmp_path / "dashboard.html").read_text()
    assert f"to {now:%Y-%m-%d %H}" in page and "data:image/png;base64," in page
    assert f"UTC: 240 prediction events; model {'ab' * 6}" in page
    assert (tmp_path / "dashboard.png").read_bytes().startswith(b"\x89PNG")


def test_an_empty_window_is_drawn_as_no_data(opensearch: str, tmp_path: Path) -> None:
    Shipper(OpenSearch([opensearch]), dead_letter_file(tmp_path / "d.jsonl")).ship(
        make_events(10, start=datetime.now(UTC) - timedelta(days=3)))
    assert dashboard.main(["report", "--set", f"monitoring.opensearch={opensearch}",
                           "--set", f"monitoring.report_dir={tmp_path}"]) == 0
    shown = json.loads((tmp_path / "dashboard.json").read_text())["panels"]
    assert [p["values"] for p in shown.values()] == [[]] * len(PANELS)


def test_the_picture_marks_drift_over_the_limit_and_keeps_its_axes() -> None:
    hours = ["2026-11-30T10:00:00.000Z", "2026-11-30T11:00:00.000Z"]
    data = {"cola-predictions-over-time": (hours, [5, 7]),
            "cola-label-ratio": (["acceptable", "unacceptable"], [8, 4]),
            "cola-score-histogram": ([0.6, 0.95], [3, 9]),
            "cola-latency-p95": (hours, [4.0, 5.5]),
            "cola-drift-status": (["text_chars", "unk_share", "label"], [0.05, 0.31, 0.2]),
            "cola-tokens-over-time": (hours, [8.0, 9.5]),
            "cola-unknown-share-over-time": (hours, [0.0, 0.1]),
            "cola-models": (["ab" * 32], [12])}
    results = [(panel, *data[panel.id]) for panel in PANELS]
    fig = dashboard.draw(results, "the title", psi_limit=0.2)
    axes = {panel.id: ax for panel, ax in zip(PANELS, fig.axes, strict=False)}
    assert len(fig.axes) == 8 and fig._suptitle.get_text() == "the title"
    drift = axes["cola-drift-status"]
    colours = [to_hex(bar.get_facecolor()) for bar in drift.patches]
    # above the limit in the alert colour; at the limit (0.2) not: PSI must exceed it
    assert colours == [dashboard.COLOUR, dashboard.ALERT_COLOUR, dashboard.COLOUR]
    (limit,) = drift.get_lines()
    assert list(limit.get_xdata()) == [0.2, 0.2]
    assert axes["cola-score-histogram"].get_xlim() == (0.5, 1.0)
    for panel_id in ("cola-predictions-over-time", "cola-latency-p95", "cola-tokens-over-time"):
        assert axes[panel_id].get_xlabel() == "hour (UTC)"
    assert [label.get_text() for label in axes["cola-models"].get_yticklabels()] == ["ab" * 6]
    plt.close(fig)
