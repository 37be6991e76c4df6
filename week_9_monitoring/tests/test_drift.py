"""Drift: the reference saved with the export, and reports over two synthetic streams of real
prediction events (the exported toy model's): one like the validation data (no alert) and one
of long sentences in words the tokenizer has never seen (alerts, exit 1, one line each)."""

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from opensearchpy import OpenSearch

from helpers import make_events, toy_rows, write_tsv
from inference_onnx import ColaONNXPredictor
from monitoring import drift_report, simulate_traffic
from monitoring.dashboard import INDEX_PATTERNS, PANELS, query, values
from monitoring.prediction_log import PredictionLog
from monitoring.reference import save_reference
from monitoring.shipper import Shipper, dead_letter_file, read_events

NEW_WORDS = ["quantum", "chromodynamics", "describes", "interacting", "quarks", "gluons",
             "photosynthesis", "mitochondria", "entropy", "lattice", "eigenvalue", "spinor"]


@pytest.fixture(scope="module")
def reference_file(onnx_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("reference_data")
    write_tsv(data / "train.tsv", toy_rows(160, seed=1))
    write_tsv(data / "validation.tsv", toy_rows(400, seed=5))
    out = data / "reference_stats.json"
    save_reference(str(onnx_model), str(data), str(out))
    return out


def stream(onnx_model: Path, texts: list[str], per_request: int = 1) -> list[dict]:
    """The events of `texts` sent `per_request` sentences a request. Predicted 16 at a time
    whatever the requests: int8 activations are quantized per batch, and the reference's
    scores were predicted in batches too."""
    predictor = ColaONNXPredictor(onnx_model)
    log = PredictionLog(predictor.tokenizer, "ab" * 32, "1", "fastapi")
    predictions = [p for i in range(0, len(texts), 16) for p in predictor.predict(texts[i:i + 16])]
    return [event for i in range(0, len(texts), per_request) for event in log.events(
        f"r{i}", texts[i:i + per_request], predictions[i:i + per_request], 3.0)]


def like_validation(onnx_model: Path) -> list[dict]:
    return stream(onnx_model, [text for _, text in toy_rows(300, seed=11)])


def drifted(onnx_model: Path, n: int = 300, per_request: int = 1) -> list[dict]:
    rng = random.Random(3)
    return stream(onnx_model, [" ".join(rng.choices(NEW_WORDS, k=rng.randint(12, 20))) + "."
                               for _ in range(n)], per_request)


def run(reference: Path, tmp_path: Path, *args: str) -> int:
    return drift_report.main([*args, "--set", f"monitoring.reference={reference}",
                              "--set", f"monitoring.report_dir={tmp_path}"])


def write_events(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def test_the_reference_holds_the_validation_data_as_the_model_sees_it(
        reference_file: Path, onnx_model: Path) -> None:
    reference = json.loads(reference_file.read_text())
    assert reference["events"] == 400
    sentences = [text for _, text in toy_rows(400, seed=5)]
    assert sorted(reference["numeric"]["text_chars"]) == sorted(float(len(s)) for s in sentences)
    assert set(reference["numeric"]["unk_share"]) == {0.0}  # the toy vocabulary covers them
    assert sum(reference["label"].values()) == 400
    assert reference["train_label"] == {"unacceptable": 80, "acceptable": 80}
    predictor = ColaONNXPredictor(onnx_model)  # in the export's batches: int8 activations are
    scores = [p["score"] for i in range(0, 400, 64)  # quantized per batch
              for p in predictor.predict(sentences[i:i + 64])]
    assert np.allclose(sorted(reference["numeric"]["score"]), sorted(scores), atol=1e-5)


def test_a_stream_like_the_validation_data_does_not_alert(reference_file: Path, onnx_model: Path,
                                                          tmp_path: Path, capsys) -> None:
    log = write_events(tmp_path / "service.log", like_validation(onnx_model))
    assert run(reference_file, tmp_path, "--events", str(log)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert [line.split(":")[0] for line in out.splitlines()[:5]] == [
        "text_chars", "text_tokens", "unk_share", "score", "label"]
    assert "DRIFT" not in out
    assert "No drift." in (tmp_path / "drift_report.html").read_text()


def test_a_drifted_stream_alerts_with_one_line_per_feature(reference_file: Path,
                                                           onnx_model: Path, tmp_path: Path,
                                                           capsys) -> None:
    log = write_events(tmp_path / "service.log", drifted(onnx_model))
    assert run(reference_file, tmp_path, "--events", str(log)) == 1
    alerts = capsys.readouterr().err.splitlines()
    assert all(line.startswith("drift: ") and line.endswith("DRIFT") for line in alerts)
    features = {line.split()[1].rstrip(":") for line in alerts}
    assert {"text_chars", "text_tokens", "unk_share"} <= features
    page = (tmp_path / "drift_report.html").read_text()
    assert "Drift in" in page and "data:image/png;base64," in page
    assert (tmp_path / "drift_report.png").read_bytes().startswith(b"\x89PNG")


def test_too_few_requests_are_no_data_with_an_exit_status_of_their_own(
        reference_file: Path, onnx_model: Path, tmp_path: Path, capsys) -> None:
    """A window that is (nearly) empty must not look healthy: the pipeline may have stopped."""
    for events, requests in ((drifted(onnx_model, 20), 20), ([], 0),
                             (drifted(onnx_model, 160, per_request=16), 10)):
        log = write_events(tmp_path / "service.log", events)
        assert run(reference_file, tmp_path, "--events", str(log)) == drift_report.NO_DATA == 3
        err = capsys.readouterr().err
        assert f"{requests} requests ({len(events)} events) from {log}: fewer than " \
               "monitoring.drift.min_events (100), no verdict (exit status 3)" in err


def test_a_bad_value_is_named_and_the_other_events_are_still_judged(
        reference_file: Path, onnx_model: Path, tmp_path: Path, capsys) -> None:
    """A null score once broke the plot (exit 2, no verdict); a NaN made KS's p NaN, and
    `nan < p_value` is false: a bad value could switch an alert off."""
    events = drifted(onnx_model)
    events[5]["score"] = None
    events[7]["score"] = float("nan")
    events[9]["unk_share"] = "high"
    del events[11]["text_chars"]
    events[13]["label"] = "maybe"
    log = write_events(tmp_path / "service.log", events)
    assert run(reference_file, tmp_path, "--events", str(log)) == 1
    out, err = capsys.readouterr()
    err = err.splitlines()
    warnings = [line for line in err if line.startswith("warning: ")]
    assert warnings == [
        f"warning: text_chars: 1 event left out (missing: 1; e.g. event {events[11]['event_id']})",
        f"warning: unk_share: 1 event left out (not a number: 1; e.g. event "
        f"{events[9]['event_id']})",
        f"warning: score: 2 events left out (null: 1, not a number: 1; e.g. event "
        f"{events[5]['event_id']})",
        f"warning: label: 1 event left out (not one of unacceptable/acceptable: 1; e.g. event "
        f"{events[13]['event_id']})"]
    assert {"text_chars", "text_tokens", "unk_share"} <= {
        line.split()[1].rstrip(":") for line in err if line.startswith("drift: ")}
    assert "295 requests from" in out
    page = (tmp_path / "drift_report.html").read_text()
    assert "Left out: score: 2 events left out" in page


def test_one_heavy_caller_cannot_raise_an_alert(reference_file: Path, onnx_model: Path,
                                                tmp_path: Path, capsys) -> None:
    """64 odd sentences in one request are one caller's: counted once, they do not alert.
    The same 64 sent one a request are 64 callers' and do."""
    normal = like_validation(onnx_model)[:150]
    for per_request, expected in ((64, 0), (1, 1)):
        odd = drifted(onnx_model, 64, per_request)
        for event in odd:
            event["event_id"] = "odd-" + event["event_id"]
        log = write_events(tmp_path / "service.log", normal + odd)
        assert run(reference_file, tmp_path, "--events", str(log)) == expected, per_request
        assert f"{150 + 64 // per_request} requests from" in capsys.readouterr().out


def test_from_opensearch_the_results_feed_the_drift_panel(reference_file: Path,
                                                          onnx_model: Path, opensearch: str,
                                                          tmp_path: Path) -> None:
    events = drifted(onnx_model)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for event in events:
        event["@timestamp"] = now
    client = OpenSearch([opensearch])
    Shipper(client, dead_letter_file(tmp_path / "dead.jsonl")).ship(events)
    client.indices.refresh(index="cola-predictions-*")
    assert run(reference_file, tmp_path, "--set", f"monitoring.opensearch={opensearch}") == 1
    panel = next(p for p in PANELS if p.index == "cola-drift")
    response = client.search(index=INDEX_PATTERNS["cola-drift"],
                             body=query(panel, datetime.now(UTC)))
    psi = dict(zip(*values(panel, response), strict=True))
    assert set(psi) == {"text_chars", "text_tokens", "unk_share", "score", "label"}
    assert psi["unk_share"] > 0.2


@pytest.mark.parametrize("problem, message", [
    (["--set", "monitoring.reference=/nonexistent/reference.json"], "no reference statistics"),
    (["--set", "monitoring.drift.p_value=2"], "p_value must be in (0, 1)"),
    (["--events", "/nonexistent.log"], "No such file or directory"),
    (["--events", "PARTIAL"], "can be judged: text_tokens: "
                              "120 events left out (missing: 120; e.g. event req00000-0); score"),
])
def test_bad_input_is_one_line(problem: list[str], message: str, reference_file: Path,
                               tmp_path: Path, capsys) -> None:
    partial = tmp_path / "partial.log"  # events an older version wrote, without two fields
    write_events(partial, [{k: v for k, v in e.items() if k not in ("score", "text_tokens")}
                           for e in make_events(120)])
    problem = [str(partial) if a == "PARTIAL" else a for a in problem]
    args = problem if "monitoring.reference" in " ".join(problem) else [
        *problem, "--set", f"monitoring.reference={reference_file}"]
    assert drift_report.main([*args, "--set", f"monitoring.report_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_simulated_traffic_is_events_and_drifts_when_asked(onnx_model: Path, tmp_path: Path,
                                                           reference_file: Path,
                                                           capsys) -> None:
    sentences = write_tsv(tmp_path / "sentences.tsv", toy_rows(150, seed=21))
    ids = []
    for drift, expected in ((False, 0), (True, 1)):
        args = [str(sentences), "--model", str(onnx_model), "--spread-hours", "24"]
        assert simulate_traffic.main(args + (["--drift"] if drift else [])) == 0
        log = tmp_path / f"traffic_{drift}.log"
        log.write_text(capsys.readouterr().out)
        events = list(read_events(log.read_text().splitlines()))
        assert len(events) == 150 and len({e["event_id"] for e in events}) == 150
        ids.append({e["event_id"] for e in events})
        hours = (datetime.fromisoformat(events[-1]["@timestamp"]) -
                 datetime.fromisoformat(events[0]["@timestamp"])).total_seconds() / 3600
        assert 23 < hours < 24
        assert run(reference_file, tmp_path, "--events", str(log)) == expected
        capsys.readouterr()
    # the README's demo runs it twice with the same seed: both runs' events must be indexed
    assert not ids[0] & ids[1]
