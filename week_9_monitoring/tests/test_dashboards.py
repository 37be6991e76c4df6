"""The dashboard as files: the saved objects are the ones PANELS defines, every field a
visualisation uses exists in its index's mapping with a type its aggregation accepts, the
references resolve, and the static report draws the same aggregations' answers."""

import json
from collections import Counter

import pytest
from opensearchpy import OpenSearch

import dashboard
from conftest import make_events
from dashboard import FIELD_TYPES, INDEX_PATTERNS, NDJSON, PANELS, query, saved_objects, values
from drift_report import DRIFT_TEMPLATE_FILE
from shipper import Shipper, dead_letter_file, load_template

MAPPINGS = {"cola-predictions": load_template()["template"]["mappings"]["properties"],
            "cola-drift": json.loads(DRIFT_TEMPLATE_FILE.read_text())["template"]["mappings"][
                "properties"]}


def objects() -> list[dict]:
    return [json.loads(line) for line in NDJSON.read_text().splitlines()]


def test_the_ndjson_file_is_what_dashboard_py_exports() -> None:
    assert objects() == saved_objects(), "run: python dashboard.py export"


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
    assert checked == 7  # 5 bucket aggregations, 2 metrics that read a field (p95, max)


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


def test_the_panel_queries_answer_what_was_shipped(opensearch: str, tmp_path) -> None:
    from datetime import UTC, datetime, timedelta

    events = make_events(240, start=datetime.now(UTC) - timedelta(hours=2), step_s=30)
    client = OpenSearch([opensearch])
    Shipper(client, dead_letter_file(tmp_path / "dead.jsonl")).ship(events)
    client.indices.refresh(index="cola-predictions-*")
    answers = {}
    for panel in PANELS[:4]:
        response = client.search(index=INDEX_PATTERNS[panel.index], body=query(panel))
        answers[panel.id] = dict(zip(*values(panel, response), strict=True))
    assert sum(answers["cola-predictions-over-time"].values()) == 240
    assert answers["cola-label-ratio"] == Counter(e["label"] for e in events)
    scores = Counter(round(e["score"] * 1000) // 50 * 50 / 1000 for e in events)  # 0.05 bins
    assert {round(k, 2): v for k, v in answers["cola-score-histogram"].items()} == scores
    latencies = sorted(e["latency_ms"] for e in events)
    assert max(answers["cola-latency-p95"].values()) == pytest.approx(
        latencies[int(0.95 * len(latencies))], abs=1.0)


def test_the_report_is_written_without_dashboards(opensearch: str, tmp_path) -> None:
    Shipper(OpenSearch([opensearch]), dead_letter_file(tmp_path / "d.jsonl")).ship(
        make_events(50))
    assert dashboard.main(["report", "--set", f"monitoring.opensearch={opensearch}",
                           "--set", f"monitoring.report_dir={tmp_path}"]) == 0
    png = (tmp_path / "dashboard.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    assert "data:image/png;base64," in (tmp_path / "dashboard.html").read_text()
