"""drift_report.py without a model or a server: the window it asks OpenSearch for (against a
stand-in that pages as OpenSearch does), the documents it records, the plot and the HTML
report, and what the command prints and returns for made-up references and event logs."""

import json
import random
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
import time_machine
from matplotlib.colors import to_hex
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError

from helpers import daily_index, make_events
from monitoring import drift_report
from monitoring.drift import FeatureDrift, compare, reference_stats, usable
from monitoring.drift_report import (
    DRIFT_TEMPLATE_FILE,
    events_from_opensearch,
    plot,
    record,
    write_report,
)
from monitoring.reports import plt

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
FEATURES = ["text_chars", "text_tokens", "unk_share", "score", "label"]
RED = "#b00020"


class StandIn:
    """Just enough of an OpenSearch client: search() filters the stored events by index and
    range query, sorts them by the sort fields and pages with size and search_after, as
    OpenSearch does (a body with a key it does not know is refused); a page that would repeat
    events of the page before is an error. put_index_template() and bulk() are kept."""

    def __init__(self, events: list[dict] = (), bulk_answer: dict | None = None) -> None:
        self.events = list(events)
        self.bulk_answer = bulk_answer or {"took": 3, "errors": False, "items": []}
        self.searches: list[dict] = []
        self.templates: list[tuple[str, dict]] = []
        self.bulks: list[tuple[list[dict], object]] = []
        self.indices = self
        self.last_sort = None

    def search(self, index: str, body: dict, ignore_unavailable: bool = False) -> dict:
        self.searches.append(json.loads(json.dumps(body)))
        if set(body) - {"size", "sort", "query", "search_after"}:
            raise ValueError(f"unknown keys in {sorted(body)}")
        fields = []
        for clause in body["sort"]:
            ((field, order),) = clause.items()
            if order.lower() != "asc":
                raise ValueError(f"unknown sort order {order!r}")
            fields.append(field)
        window = body["query"]["range"]["@timestamp"]
        hits = sorted((e for e in self.events if fnmatch(daily_index(e), index)
                       and window["gte"] <= e["@timestamp"] <= window["lte"]),
                      key=lambda e: [e[f] for f in fields])
        if "search_after" in body:
            if body["search_after"] < self.last_sort:
                raise AssertionError("this page would repeat events of the page before")
            hits = [e for e in hits if [e[f] for f in fields] > body["search_after"]]
        page = [{"_source": e, "sort": [e[f] for f in fields]} for e in hits[:body["size"]]]
        if page:
            self.last_sort = page[-1]["sort"]
        return {"hits": {"hits": page}}

    def put_index_template(self, name: str, body: dict) -> None:
        self.templates.append((name, body))

    def bulk(self, body: list[dict], refresh: object = None) -> dict:
        self.bulks.append((body, refresh))
        return self.bulk_answer


def events_every(seconds: int, per_instant: int, start: datetime, end: datetime) -> list[dict]:
    """`per_instant` events at each instant `seconds` apart from start to end, shuffled."""
    events, stamp = [], start
    while stamp <= end:
        events += make_events(per_instant, start=stamp, step_s=0)
        stamp += timedelta(seconds=seconds)
    for i, event in enumerate(events):
        event["event_id"] = f"e{i:06d}-0"
    random.Random(0).shuffle(events)
    return events


def test_the_window_is_every_event_of_the_hours_before_now_oldest_first() -> None:
    # five events every 30 s from 26 h before NOW to 1 h after it: the last 24 hours hold
    # 14,405 of them, three pages, and events of one instant lie across the pages' borders
    events = events_every(30, 5, NOW - timedelta(hours=26), NOW + timedelta(hours=1))
    client = StandIn(events)
    window = events_from_opensearch(client, 24, NOW)
    assert len(window) == 5 * (24 * 120 + 1)  # both ends of the window are in it
    start, end = "2026-11-29T12:00:00.000Z", "2026-11-30T12:00:00.000Z"
    assert window == sorted((e for e in events if start <= e["@timestamp"] <= end),
                            key=lambda e: (e["@timestamp"], e["event_id"]))
    assert len(client.searches) == 3
    assert len(events_from_opensearch(StandIn(events), 1.5, NOW)) == 5 * (90 * 2 + 1)


def test_a_window_of_whole_pages_is_read_to_its_end() -> None:
    events = events_every(1, 5, NOW - timedelta(seconds=1999), NOW)  # 10,000 events
    assert len(events_from_opensearch(StandIn(events), 1, NOW)) == 10_000
    assert events_from_opensearch(StandIn(), 24, NOW) == []


def test_each_run_records_one_document_per_feature_under_one_run_id() -> None:
    results = [FeatureDrift("text_chars", "ks", 0.5, 1e-9, 0.8, True),
               FeatureDrift("label", "chi2", 1.5, 0.2, 0.01, False)]
    client = StandIn()
    with time_machine.travel(NOW, tick=False):
        record(client, results, 321)
        record(client, results[:1], 5)
    template = json.loads(DRIFT_TEMPLATE_FILE.read_text())
    assert client.templates == [("cola-drift", template)] * 2
    (body, refresh), (second, _) = client.bulks
    assert refresh == "true"  # the dashboard's drift panel shows the run at once
    run_id = body[1]["run_id"]
    assert len(run_id) == 32 and int(run_id, 16) >= 0
    assert body == [
        {"create": {"_index": "cola-drift", "_id": f"{run_id}-text_chars"}},
        {"@timestamp": "2026-11-30T12:00:00.000Z", "run_id": run_id, "events": 321,
         "feature": "text_chars", "test": "ks", "statistic": 0.5, "p_value": 1e-9, "psi": 0.8,
         "alert": True},
        {"create": {"_index": "cola-drift", "_id": f"{run_id}-label"}},
        {"@timestamp": "2026-11-30T12:00:00.000Z", "run_id": run_id, "events": 321,
         "feature": "label", "test": "chi2", "statistic": 1.5, "p_value": 0.2, "psi": 0.01,
         "alert": False}]
    assert second[1]["run_id"] != run_id and second[1]["events"] == 5


def test_results_the_drift_index_refuses_are_an_error_that_quotes_the_answer() -> None:
    refusal = {"errors": True, "items": [{"create": {"status": 400, "error": {
        "type": "strict_dynamic_mapping_exception", "reason": "x" * 500}}}]}
    with pytest.raises(ValueError) as caught:
        record(StandIn(bulk_answer=refusal), [FeatureDrift("score", "ks", 0, 1, 0, False)], 1)
    message = str(caught.value)
    prefix = "the drift index refused the results: "
    assert message.startswith(prefix + '{"errors": true, "items": [{"create": {"status": 400')
    assert len(message) == len(prefix) + 300  # the answer cut to its first 300 characters


def reference_and_window(shift: bool) -> tuple[dict, list[dict]]:
    reference = reference_stats(make_events(400, start=START), [0, 1, 1])
    window = make_events(300, start=START)
    if shift:
        for event in window:
            event["text_chars"] += 100
            event["unk_share"] = 0.4
    return reference, window


@pytest.fixture
def plots(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """What the report's picture is drawn from: the arguments of each plot() call. A blank
    figure stands in for the drawing (the plot test checks that), which keeps these quick."""
    calls = []

    def blank(reference: dict, events: list[dict], results: list[FeatureDrift]) -> plt.Figure:
        calls.append((reference, events, results))
        return plt.figure(figsize=(1, 1))

    monkeypatch.setattr(drift_report, "plot", blank)
    return calls


def test_the_plot_draws_reference_and_window_per_feature_with_its_verdict() -> None:
    reference, window = reference_and_window(shift=True)
    results = [FeatureDrift("text_chars", "ks", 1.0, 1.6e-206, 8.283, True),
               FeatureDrift("text_tokens", "ks", 0.0067, 0.99, 0.0004, False),
               FeatureDrift("unk_share", "ks", 1.0, 1.6e-206, 18.419, True),
               FeatureDrift("score", "ks", 0.02, 1.0, 0.0012, False),
               FeatureDrift("label", "chi2", 0.0, 1.0, 0.0, False)]
    fig = plot(reference, window, results)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [
        "text_chars\np=1.6e-206 PSI=8.28", "text_tokens\np=0.99 PSI=0.00",
        "unk_share\np=1.6e-206 PSI=18.42", "score\np=1 PSI=0.00", "label\np=1 PSI=0.00"]
    assert [to_hex(ax.title.get_color()) for ax in axes] == [
        RED, "#000000", RED, "#000000", "#000000"]
    assert {ax.title.get_fontsize() for ax in axes} == {10}
    # side by side, 4 inches each
    assert list(fig.get_size_inches()) == pytest.approx([20, 3.2])
    assert [ax.get_subplotspec().colspan.start for ax in axes] == [0, 1, 2, 3, 4]
    for ax in axes:
        legend = ax.get_legend()
        assert [t.get_text() for t in legend.get_texts()] == ["reference", "window"]
        assert {t.get_fontsize() for t in legend.get_texts()} == {8}
    chars = axes[0]
    ref = np.array(reference["numeric"]["text_chars"])
    cur = np.array([e["text_chars"] for e in window], dtype=float)
    edges = np.linspace(10, 159, 31)  # 30 bins from the smallest value of both to the largest
    heights = [bar.get_height() for bar in chars.patches]
    assert heights == pytest.approx([*np.histogram(ref, edges, density=True)[0],
                                     *np.histogram(cur, edges, density=True)[0]])
    assert [bar.get_x() for bar in chars.patches[:30]] == pytest.approx(edges[:-1])
    # see-through, so that where both have values both show
    assert {bar.get_alpha() for ax in axes[:4] for bar in ax.patches} == {0.5}
    labels = axes[4]
    bars = labels.patches
    assert [b.get_x() + b.get_width() / 2 for b in bars] == pytest.approx([-0.2, 0.8, 0.2, 1.2])
    assert [b.get_width() for b in bars] == pytest.approx([0.4] * 4)
    # shares, not counts: the reference's 400 events and the window's 300 side by side
    assert [b.get_height() for b in bars] == pytest.approx([134 / 400, 266 / 400, 1 / 3, 2 / 3])
    assert [t.get_text() for t in labels.get_xticklabels()] == ["unacceptable", "acceptable"]
    plt.close(fig)


def test_the_report_page_has_the_verdicts_the_sources_and_what_was_left_out(
        tmp_path: Path, plots: list[tuple]) -> None:
    reference, window = reference_and_window(shift=True)
    reference["data"] = "cola/validation.tsv"
    results = [FeatureDrift("text_chars", "ks", 0.31254, 0.00042345, 0.35, True),
               FeatureDrift("text_tokens", "ks", 0.01, 0.9, 0.001, False),
               FeatureDrift("unk_share", "ks", 1.0, 1e-12, 12.0, True),
               FeatureDrift("score", "ks", 0.02, 1.0, 0.0, False),
               FeatureDrift("label", "chi2", 0.0, 1.0, 0.0, False)]
    _, left_out = usable([{"event_id": "a&b-0", "text_tokens": 3, "unk_share": 0.0,
                           "score": None, "label": "acceptable"}])  # and no text_chars
    page = write_report(tmp_path / "out", reference, window, results, "<stdin>", left_out)
    html = page.read_text()
    assert page == tmp_path / "out" / "drift_report.html"
    assert (tmp_path / "out" / "drift_report.png").read_bytes().startswith(b"\x89PNG")
    assert "<title>CoLA model: input drift</title>" in html
    assert "</h1><p class='alert'>Drift in text_chars, unk_share</p><p>300 requests" in html
    assert ("<p>300 requests from &lt;stdin&gt; against the reference of 400 validation "
            "sentences (cola/validation.tsv).</p>") in html
    assert ("sentences (cola/validation.tsv).</p>"
            "<p>Left out: text_chars: 1 event left out (missing: 1; e.g. event a&amp;b-0)</p>"
            "<p>Left out: score: 1 event left out (null: 1; e.g. event a&amp;b-0)</p><table>"
            ) in html
    assert ("<tr><th>feature</th><th>test</th><th>statistic</th><th>p-value</th><th>PSI</th>"
            "<th>verdict</th></tr>") in html
    assert ("<tr><td>text_chars</td><td>ks</td><td>0.3125</td><td>0.000423</td>"
            "<td>0.350</td><td>DRIFT</td></tr>") in html
    assert "<tr><td>label</td><td>chi2</td><td>0</td><td>1</td><td>0.000</td><td>ok</td></tr>" \
        in html
    assert "data:image/png;base64," in html
    assert plots == [(reference, window, results)]

    calm = [FeatureDrift(r.feature, r.test, r.statistic, r.p_value, r.psi, False)
            for r in results]
    html = write_report(tmp_path, {**reference, "data": None}, window, calm, "x.log",
                        []).read_text()
    assert "</h1><p>No drift.</p><p>300 requests" in html
    assert "Drift in" not in html and "Left out" not in html
    assert "DRIFT" not in html and "(None).</p>" in html


# --- the command ------------------------------------------------------------------------------

def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def reference_file(tmp_path: Path) -> Path:
    reference, _ = reference_and_window(shift=False)
    path = tmp_path / "reference_stats.json"
    path.write_text(json.dumps({**reference, "data": "toy"}), encoding="utf-8")
    return path


def run(reference: Path, out: Path, *args: str) -> int:
    return drift_report.main([*args, "--set", f"monitoring.reference={reference}",
                              "--set", f"monitoring.report_dir={out}"])


def test_a_window_like_the_reference_prints_each_verdict_and_exits_0(
        reference_file: Path, tmp_path: Path, capsys, plots: list[tuple]) -> None:
    _, window = reference_and_window(shift=False)
    log = tmp_path / "service.log"
    # other log lines, and bytes that are not UTF-8, are not events
    log.write_bytes(b"INFO started \xff\xfe\n" + "".join(json.dumps(e) + "\n"
                                                       for e in window).encode())
    assert run(reference_file, tmp_path / "out", "--events", str(log)) == 0
    out, err = capsys.readouterr()
    reference = json.loads(reference_file.read_text())
    expected = [r.line() for r in compare(reference, window, 0.01, 0.2)]
    assert out.splitlines() == [
        *expected, f"300 requests from {log}; report: {tmp_path / 'out' / 'drift_report.html'}"]
    assert err == ""
    assert "<p>No drift.</p>" in (tmp_path / "out" / "drift_report.html").read_text()
    ((drawn_reference, drawn_window, drawn_results),) = plots
    assert (drawn_reference, drawn_window) == (reference, window)
    assert [r.line() for r in drawn_results] == expected


def test_a_shifted_window_names_each_drifted_feature_and_exits_1(
        reference_file: Path, tmp_path: Path, capsys, plots: list[tuple]) -> None:
    _, window = reference_and_window(shift=True)
    log = write_jsonl(tmp_path / "service.log", window)
    assert run(reference_file, tmp_path, "--events", str(log)) == 1
    out, err = capsys.readouterr()
    drifted = [line for line in out.splitlines() if line.endswith("DRIFT")]
    assert [line.split(":")[0] for line in drifted] == ["text_chars", "unk_share"]
    assert err.splitlines() == [f"drift: {line}" for line in drifted]
    # the limits are the config's: a PSI limit above the shift, or a p-value limit below
    # the tests' p, and nothing alerts
    for limit in ("monitoring.drift.psi=100", "monitoring.drift.p_value=1e-300"):
        assert run(reference_file, tmp_path, "--events", str(log), "--set", limit) == 0, limit
        assert "DRIFT" not in capsys.readouterr().out


def test_events_that_cannot_be_judged_are_named_and_the_others_judged(
        reference_file: Path, tmp_path: Path, capsys, plots: list[tuple]) -> None:
    _, window = reference_and_window(shift=False)
    window[7]["score"] = None
    window[9]["label"] = "maybe"
    log = write_jsonl(tmp_path / "service.log", window)
    assert run(reference_file, tmp_path, "--events", str(log)) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "warning: score: 1 event left out (null: 1; e.g. event req00007-0)",
        "warning: label: 1 event left out (not one of unacceptable/acceptable: 1; "
        "e.g. event req00009-0)"]
    assert f"298 requests from {log}" in out


def test_fewer_requests_than_min_events_are_no_data(reference_file: Path, tmp_path: Path,
                                                    capsys, plots: list[tuple]) -> None:
    """Sentences of one request count once: 120 events in 3-sentence requests are 40."""
    events = make_events(120, start=START)
    for i, event in enumerate(events):
        event["event_id"] = f"req{i // 3}-{i % 3}"
    log = write_jsonl(tmp_path / "service.log", events)
    for min_events, status in ((41, 3), (40, 0)):
        limit = f"monitoring.drift.min_events={min_events}"
        assert run(reference_file, tmp_path, "--events", str(log), "--set", limit) == status
        out, err = capsys.readouterr()
        if status == 3:
            assert err == (f"40 requests (120 events) from {log}: fewer than "
                           "monitoring.drift.min_events (41), no verdict (exit status 3)\n")
            assert out == ""
        else:
            assert f"40 requests from {log}" in out
    empty = write_jsonl(tmp_path / "empty.log", [])
    assert run(reference_file, tmp_path, "--events", str(empty)) == 3
    assert "0 requests (0 events)" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--events", "BROKEN"], "none of the 2 events from BROKEN can be judged: text_tokens: 2 "
                              "events left out (missing: 2; e.g. event req00000-0); score: 2 "
                              "events left out (missing: 2; e.g. event req00000-0)"),
    (["--events", "/nonexistent/service.log"], "No such file or directory"),
    (["--events", "LOG", "--set", "monitoring.reference=/nonexistent/r.json"],
     "/nonexistent/r.json: no reference statistics (dvc repro reference, "
     "or python -m monitoring.reference)"),
    (["--events", "LOG", "--set", "monitoring.reference=PARTIAL"], "'label'"),
    (["--events", "LOG", "--set", "monitoring.drift.min_events=1"],
     "monitoring.drift.min_events must be at least 2"),
    (["--events", "LOG", "--set", "monitoring.no_such_key=1"], "no_such_key"),
])
def test_bad_input_is_an_error_message_and_exit_2(args: list[str], message: str,
                                                  reference_file: Path, tmp_path: Path,
                                                  capsys, plots: list[tuple]) -> None:
    log = write_jsonl(tmp_path / "service.log", make_events(150, start=START))
    broken = write_jsonl(tmp_path / "broken.log", [
        {k: v for k, v in e.items() if k not in ("score", "text_tokens")}
        for e in make_events(2, start=START)])
    partial = tmp_path / "partial.json"  # a reference without the label counts
    partial.write_text(json.dumps({k: v for k, v in json.loads(reference_file.read_text()).items()
                                   if k != "label"}))
    names = {"LOG": str(log), "BROKEN": str(broken), "monitoring.reference=PARTIAL":
             f"monitoring.reference={partial}"}
    args = [names.get(a, a) for a in args]
    if not any(a.startswith("monitoring.reference=") for a in args):
        args += ["--set", f"monitoring.reference={reference_file}"]
    assert drift_report.main([*args, "--set", f"monitoring.report_dir={tmp_path}"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ") and message.replace("BROKEN", str(broken)) in err


def test_from_opensearch_the_window_is_judged_and_recorded(
        reference_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys,
        plots: list[tuple]) -> None:
    recent = make_events(150, start=NOW - timedelta(hours=1))
    for i, event in enumerate(recent):  # 2-sentence requests: 75 requests
        event["event_id"] = f"req{i // 2}-{i % 2}"
    older = make_events(50, start=NOW - timedelta(hours=3))
    for i, event in enumerate(older):
        event["event_id"] = f"old{i}-0"
    client = StandIn(recent + older)
    made = []
    monkeypatch.setattr(drift_report, "make_client", lambda *args: made.append(args) or client)
    url = "https://search.example.com"
    with time_machine.travel(NOW, tick=False):
        status = run(reference_file, tmp_path, "--set", f"monitoring.opensearch={url}",
                     "--set", "monitoring.aws_region=eu-west-1",
                     "--set", "monitoring.drift.window_hours=1.5",
                     "--set", "monitoring.drift.min_events=50")
    assert status == 0
    assert made == [(url, "eu-west-1")]
    assert client.searches[0]["query"] == {"range": {"@timestamp": {
        "gte": "2026-11-30T10:30:00.000Z", "lte": "2026-11-30T12:00:00.000Z"}}}
    out = capsys.readouterr().out
    assert f"75 requests from {url} (last 1.5 h); report: " in out
    (body, _), = client.bulks
    documents = body[1::2]
    assert [d["feature"] for d in documents] == FEATURES
    assert {d["events"] for d in documents} == {75}
    assert {d["@timestamp"] for d in documents} == {"2026-11-30T12:00:00.000Z"}


def test_an_opensearch_that_does_not_answer_is_one_error_line(
        reference_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    class Down(StandIn):
        def search(self, index: str, body: dict, ignore_unavailable: bool = False) -> dict:
            raise OpenSearchConnectionError("N/A", "connection refused", None)

    monkeypatch.setattr(drift_report, "make_client", lambda *args: Down())
    assert run(reference_file, tmp_path) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ConnectionError") and "connection refused" in err


def test_the_help_says_what_the_command_compares_and_how_to_read_a_file(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        drift_report.main(["--help"])
    assert exit_.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())  # unwrapped
    assert " Drift of recent inputs against the reference. options:" in shown
    assert "--events FILE read events from a log file instead --set" in shown
