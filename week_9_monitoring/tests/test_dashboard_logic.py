"""dashboard.py without a server: the query each panel sends, how an answer becomes the
panel's numbers, how each kind of panel is drawn, and what `report` and `export` write,
against a stand-in client that answers with made-up aggregations."""

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine
from matplotlib.colors import to_hex
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError

from monitoring import dashboard, shipper
from monitoring.dashboard import INDEX_PATTERNS, PANELS, draw, query, report, values
from monitoring.reports import plt

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BY_ID = {panel.id: panel for panel in PANELS}
HOURS = ["2026-11-30T10:00:00.000Z", "2026-11-30T11:00:00.000Z"]
WINDOW = {"range": {"@timestamp": {"gte": "2026-11-29T12:00:00.000Z",
                                   "lte": "2026-11-30T12:00:00.000Z"}}}


def test_each_panel_asks_for_its_buckets_over_the_day_before_now() -> None:
    # the same instant as NOW, told in another time zone: the window is sent in UTC
    now = datetime(2026, 11, 30, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert query(BY_ID["cola-predictions-over-time"], now) == {
        "size": 0, "query": WINDOW,
        "aggs": {"2": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}}}}
    assert query(BY_ID["cola-label-ratio"], now) == {
        "size": 0, "query": WINDOW, "aggs": {"2": {"terms": {"field": "label", "size": 2}}}}
    assert query(BY_ID["cola-score-histogram"], now)["aggs"] == {
        "2": {"histogram": {"field": "score", "interval": 0.05}}}
    assert query(BY_ID["cola-latency-p95"], now)["aggs"] == {"2": {
        "date_histogram": {"field": "@timestamp", "fixed_interval": "1h"},
        "aggs": {"1": {"percentiles": {"field": "latency_ms", "percents": [95]}}}}}
    assert query(BY_ID["cola-drift-status"], now)["aggs"] == {"2": {
        "terms": {"field": "feature", "size": 10}, "aggs": {"1": {"max": {"field": "psi"}}}}}


def test_the_report_asks_what_the_saved_visualisations_show() -> None:
    """Both views of a panel come from one definition: the same aggregations, same fields."""
    for obj in dashboard.saved_objects():
        if obj["type"] != "visualization":
            continue
        metric, bucket = json.loads(obj["attributes"]["visState"])["aggs"]
        asked = query(BY_ID[obj["id"]], NOW)["aggs"]["2"]
        assert asked[bucket["type"]]["field"] == bucket["params"]["field"], obj["id"]
        if metric["type"] == "count":
            assert "aggs" not in asked, obj["id"]
        else:
            assert asked["aggs"]["1"] == {metric["type"]: metric["params"]}, obj["id"]


def test_an_answer_becomes_the_panels_keys_and_values() -> None:
    hourly = {"aggregations": {"2": {"buckets": [
        {"key_as_string": HOURS[0], "key": 1796032800000, "doc_count": 5},
        {"key_as_string": HOURS[1], "key": 1796036400000, "doc_count": 0}]}}}
    assert values(BY_ID["cola-predictions-over-time"], hourly) == (HOURS, [5, 0])
    labels = {"aggregations": {"2": {"buckets": [{"key": "acceptable", "doc_count": 8},
                                                 {"key": "unacceptable", "doc_count": 4}]}}}
    assert values(BY_ID["cola-label-ratio"], labels) == (["acceptable", "unacceptable"], [8, 4])
    # an hour without events has no percentile or mean (null): drawn as 0
    p95 = {"aggregations": {"2": {"buckets": [
        {"key_as_string": HOURS[0], "key": 1, "doc_count": 3, "1": {"values": {"95.0": 4.5}}},
        {"key_as_string": HOURS[1], "key": 2, "doc_count": 0, "1": {"values": {"95.0": None}}}]}}}
    assert values(BY_ID["cola-latency-p95"], p95) == (HOURS, [4.5, 0.0])
    drift = {"aggregations": {"2": {"buckets": [
        {"key": "score", "doc_count": 2, "1": {"value": 0.31}},
        {"key": "label", "doc_count": 1, "1": {"value": None}}]}}}
    assert values(BY_ID["cola-drift-status"], drift) == (["score", "label"], [0.31, 0.0])
    empty = {"aggregations": {"2": {"buckets": []}}}
    assert values(BY_ID["cola-tokens-over-time"], empty) == ([], [])


# --- the picture ------------------------------------------------------------------------------

SHOWN = {"cola-predictions-over-time": (HOURS, [5, 7]),
         "cola-label-ratio": (["acceptable", "unacceptable"], [8, 4]),
         "cola-score-histogram": ([0.6, 0.95], [3, 9]),
         "cola-latency-p95": (HOURS, [4.0, 5.5]),
         "cola-drift-status": (["text_chars", "text_tokens", "label"], [0.05, 0.2, 0.31]),
         "cola-tokens-over-time": (HOURS, [8.0, 9.5]),
         "cola-unknown-share-over-time": (HOURS, [0.0, 0.1]),
         "cola-models": (["ab" * 32, "cd" * 32], [12, 3])}


@pytest.fixture
def picture() -> Iterator[dict]:
    fig = draw([(panel, *SHOWN[panel.id]) for panel in PANELS], "the title", psi_limit=0.2)
    yield {panel.id: ax for panel, ax in zip(PANELS, fig.axes, strict=True)} | {"fig": fig}
    plt.close(fig)


def test_every_panel_is_drawn_under_its_title_in_a_grid_of_four_columns(picture: dict) -> None:
    fig = picture["fig"]
    assert [picture[p.id].get_title() for p in PANELS] == [p.title for p in PANELS]
    assert {picture[p.id].title.get_fontsize() for p in PANELS} == {10}
    assert (fig._suptitle.get_text(), fig._suptitle.get_fontsize()) == ("the title", 12)
    # 5 x 3.8 inches a panel, whatever their number
    assert list(fig.get_size_inches()) == pytest.approx([20, 7.6])
    grid = [ax.get_subplotspec() for ax in fig.axes]
    assert [(s.rowspan.start, s.colspan.start) for s in grid] == [
        (row, col) for row in range(2) for col in range(4)]


def test_hourly_panels_are_lines_over_day_and_hour_labels(picture: dict) -> None:
    for panel_id in ("cola-predictions-over-time", "cola-latency-p95", "cola-tokens-over-time",
                     "cola-unknown-share-over-time"):
        ax = picture[panel_id]
        (line,) = ax.get_lines()
        assert list(line.get_ydata()) == SHOWN[panel_id][1]
        assert line.get_marker() == "o"
        assert [t.get_text() for t in ax.get_xticklabels()] == ["11-30 10:00", "11-30 11:00"]
        assert {(t.get_rotation(), t.get_fontsize()) for t in ax.get_xticklabels()} == {(45, 7)}
        assert {t.get_rotation() for t in ax.get_yticklabels()} == {0}  # only the hours turn
        assert (ax.get_xlabel(), ax.xaxis.label.get_fontsize()) == ("hour (UTC)", 8)


def test_the_label_panel_is_a_pie_of_percentages(picture: dict) -> None:
    ax = picture["cola-label-ratio"]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["acceptable", "unacceptable", "67%", "33%"]
    wedges = ax.patches
    assert [round(w.theta2 - w.theta1) for w in wedges] == [240, 120]


def test_the_score_histogram_bars_start_at_their_bucket_and_span_its_width(
        picture: dict) -> None:
    bars = picture["cola-score-histogram"].patches
    assert [b.get_x() for b in bars] == [0.6, 0.95]
    assert [b.get_width() for b in bars] == pytest.approx([0.05, 0.05])
    assert [b.get_height() for b in bars] == [3, 9]
    assert {to_hex(b.get_edgecolor()) for b in bars} == {"#ffffff"}  # neighbours told apart


def test_the_drift_panel_marks_what_exceeds_the_limit_drawn_as_a_dashed_line(
        picture: dict) -> None:
    ax = picture["cola-drift-status"]
    # above the limit in the alert colour; at the limit not: a PSI must exceed it
    assert [(b.get_width(), to_hex(b.get_facecolor())) for b in ax.patches] == [
        (0.05, dashboard.COLOUR), (0.2, dashboard.COLOUR), (0.31, dashboard.ALERT_COLOUR)]
    (limit,) = ax.get_lines()
    assert list(limit.get_xdata()) == [0.2, 0.2]
    assert (limit.get_linestyle(), to_hex(limit.get_color())) == ("--", dashboard.ALERT_COLOUR)
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["alert above 0.2"]
    assert legend.get_texts()[0].get_fontsize() == 8


def test_table_panels_are_bars_named_by_their_first_twelve_characters(picture: dict) -> None:
    ax = picture["cola-models"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["abababababab", "cdcdcdcdcdcd"]
    assert [b.get_width() for b in ax.patches] == [12, 3]


def test_a_panel_without_data_says_so_and_spare_cells_stay_blank() -> None:
    results = [(panel, [], []) for panel in [*PANELS, PANELS[0]]]  # nine: a third row
    fig = draw(results, "empty", psi_limit=0.2)
    assert len(fig.axes) == 12
    assert list(fig.get_size_inches()) == pytest.approx([20, 3 * 3.8])
    for ax in fig.axes[:9]:
        (text,) = ax.texts
        assert (text.get_text(), text.get_position()) == ("no data", (0.5, 0.5))
        assert (text.get_ha(), text.get_va()) == ("center", "center")
        assert text.get_transform() == ax.transAxes  # the middle of the panel, not of its data
        assert not ax.axison and not ax.patches and not ax.get_lines()
    assert [ax.axison for ax in fig.axes[9:]] == [False] * 3
    assert [ax.get_title() for ax in fig.axes[9:]] == [""] * 3
    plt.close(fig)


# --- the report and the command ---------------------------------------------------------------

def buckets(*rows: dict) -> dict:
    return {"took": 2, "aggregations": {"2": {"buckets": list(rows)}}}


# what a stand-in OpenSearch answers, by the bucket field and the metric's field
ANSWERS = {
    ("@timestamp", None): buckets({"key_as_string": HOURS[0], "key": 1, "doc_count": 120},
                                  {"key_as_string": HOURS[1], "key": 2, "doc_count": 30}),
    ("label", None): buckets({"key": "acceptable", "doc_count": 100},
                             {"key": "unacceptable", "doc_count": 50}),
    ("score", None): buckets({"key": 0.5, "doc_count": 40}, {"key": 0.95, "doc_count": 110}),
    ("@timestamp", "latency_ms"): buckets(
        {"key_as_string": HOURS[0], "key": 1, "doc_count": 120, "1": {"values": {"95.0": 9.5}}},
        {"key_as_string": HOURS[1], "key": 2, "doc_count": 30, "1": {"values": {"95.0": 7.25}}}),
    ("feature", "psi"): buckets({"key": "unk_share", "doc_count": 3, "1": {"value": 0.42}}),
    ("@timestamp", "text_tokens"): buckets(
        {"key_as_string": HOURS[0], "key": 1, "doc_count": 120, "1": {"value": 7.5}}),
    ("@timestamp", "unk_share"): buckets(
        {"key_as_string": HOURS[0], "key": 1, "doc_count": 120, "1": {"value": 0.02}}),
    ("model_sha256", None): buckets({"key": "ab" * 32, "doc_count": 140},
                                    {"key": "cd" * 32, "doc_count": 10}),
}


class StandIn:
    """An OpenSearch client's search() that answers each panel's aggregation from ANSWERS."""

    def __init__(self, answers: dict = ANSWERS) -> None:
        self.answers, self.searches = answers, []

    def search(self, index: str, body: dict, ignore_unavailable: bool = False) -> dict:
        self.searches.append((index, body, ignore_unavailable))
        bucket = body["aggs"]["2"]
        (kind,) = [k for k in bucket if k != "aggs"]
        metric = [spec["field"] for spec in bucket.get("aggs", {}).get("1", {}).values()]
        return self.answers[(bucket[kind]["field"], *(metric or [None]))]


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """What the report's picture is drawn from: the arguments of each draw() call. A blank
    figure stands in for the drawing (the picture tests check that), which keeps these quick."""
    calls = []

    def blank(results: list, title: str, psi_limit: float) -> plt.Figure:
        calls.append((results, title, psi_limit))
        return plt.figure(figsize=(1, 1))

    monkeypatch.setattr(dashboard, "draw", blank)
    return calls


@pytest.fixture
def local_clock_behind_utc() -> Iterator[None]:
    """The machine's local time five hours behind UTC (a POSIX TZ: no time zone files)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "EST5"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_the_report_writes_each_panels_numbers_and_a_titled_page(
        tmp_path: Path, drawn: list[tuple], local_clock_behind_utc: None) -> None:
    client = StandIn()
    now = datetime(2026, 11, 30, 13, 0, tzinfo=timezone(timedelta(hours=1)))  # 12:00 UTC
    page = report(client, tmp_path / "out", now, psi_limit=0.25)
    assert page == tmp_path / "out" / "dashboard.html"
    assert [(index, body) for index, body, _ in client.searches] == [
        (INDEX_PATTERNS[p.index], query(p, NOW)) for p in PANELS]
    assert [index for index, _, _ in client.searches].count("cola-drift") == 1
    # no index yet (a new day's, or no drift run) is no data, not an error
    assert {ignore for _, _, ignore in client.searches} == {True}
    summary = json.loads((tmp_path / "out" / "dashboard.json").read_text())
    assert summary["window"] == {"from": "2026-11-29T12:00:00.000Z",
                                 "to": "2026-11-30T12:00:00.000Z"}
    assert (summary["events"], summary["models"], summary["psi_limit"]) == (
        150, ["abababababab", "cdcdcdcdcdcd"], 0.25)
    assert summary["panels"]["cola-latency-p95"] == {"keys": HOURS, "values": [9.5, 7.25]}
    assert summary["panels"]["cola-score-histogram"] == {"keys": [0.5, 0.95],
                                                         "values": [40, 110]}
    assert summary["panels"]["cola-drift-status"] == {"keys": ["unk_share"], "values": [0.42]}
    assert list(summary["panels"]) == [p.id for p in PANELS]
    title = ("CoLA model monitoring, 2026-11-29 12:00 to 2026-11-30 12:00 UTC: 150 prediction "
             "events; model abababababab, cdcdcdcdcdcd")
    ((results, drawn_title, limit),) = drawn
    assert (drawn_title, limit) == (title, 0.25)
    assert results[1] == (BY_ID["cola-label-ratio"], ["acceptable", "unacceptable"], [100, 50])
    assert [panel for panel, _, _ in results] == PANELS
    html = page.read_text()
    assert f"<title>{title}</title>" in html and "data:image/png;base64," in html
    assert (tmp_path / "out" / "dashboard.png").read_bytes().startswith(b"\x89PNG")


def test_a_report_of_an_empty_window_says_none(tmp_path: Path, drawn: list[tuple]) -> None:
    empty = dict.fromkeys(ANSWERS, buckets())
    report(StandIn(empty), tmp_path, NOW, psi_limit=0.2)
    summary = json.loads((tmp_path / "dashboard.json").read_text())
    assert (summary["events"], summary["models"]) == (0, [])
    assert drawn[0][1].endswith("UTC: 0 prediction events; model none")


def test_export_writes_the_saved_objects_file_as_it_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    out = tmp_path / "dashboards.ndjson"
    monkeypatch.setattr(dashboard, "NDJSON", out)
    assert dashboard.main(["export"]) == 0
    kept = Path(dashboard.__file__).parent / "dashboards.ndjson"
    assert out.read_text() == kept.read_text()  # byte for byte: keys sorted, one per line
    assert capsys.readouterr().out == f"11 saved objects: {out}\n"  # 2 patterns, 8 panels, 1 board


def test_the_command_knows_only_export_and_report(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        dashboard.main(["publish"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "{export,report}" in err and "invalid choice: 'publish'" in err
    with pytest.raises(SystemExit):
        dashboard.main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())  # unwrapped
    assert " The monitoring dashboard as files. positional arguments:" in shown


def test_the_report_command_uses_the_configured_opensearch_and_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, drawn: list[tuple], capsys) -> None:
    made = []
    monkeypatch.setattr(shipper, "make_client", lambda *args: made.append(args) or StandIn())
    url = "https://search.example.com"
    with time_machine.travel(NOW, tick=False):
        assert dashboard.main(["report", "--set", f"monitoring.opensearch={url}",
                               "--set", "monitoring.aws_region=eu-west-1",
                               "--set", "monitoring.drift.psi=0.3",
                               "--set", f"monitoring.report_dir={tmp_path}"]) == 0
    assert made == [(url, "eu-west-1")]
    assert capsys.readouterr().out == f"dashboard report: {tmp_path / 'dashboard.html'}\n"
    summary = json.loads((tmp_path / "dashboard.json").read_text())
    assert (summary["psi_limit"], summary["window"]["to"]) == (0.3, "2026-11-30T12:00:00.000Z")


class Down(StandIn):
    def search(self, index: str, body: dict, ignore_unavailable: bool = False) -> dict:
        raise OpenSearchConnectionError("N/A", "connection refused", None)


@pytest.mark.parametrize("client, args, message", [
    (Down(), [], "ConnectionError"),
    (StandIn({key: {"took": 1} for key in ANSWERS}), [], "'aggregations'"),
    (StandIn(), ["--set", "monitoring.report_dir=FILE"], "FILE"),
    (StandIn(), ["--set", "monitoring.no_such_key=1"], "no_such_key"),
])
def test_a_report_that_cannot_be_made_is_an_error_and_exit_2(
        client: StandIn, args: list[str], message: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, drawn: list[tuple], capsys) -> None:
    monkeypatch.setattr(shipper, "make_client", lambda *_: client)
    file = tmp_path / "a_file"
    file.write_text("")
    args = [a.replace("FILE", str(file / "reports")) for a in args]
    assert dashboard.main(["report", "--set", f"monitoring.report_dir={tmp_path}", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and message.replace("FILE", "a_file") in err
