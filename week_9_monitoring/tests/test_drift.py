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

import drift_report
import simulate_traffic
from conftest import make_events, toy_rows, write_tsv
from convert_model_to_onnx import save_reference
from dashboard import INDEX_PATTERNS, PANELS, query, values
from drift import compare, numeric_psi
from inference_onnx import ColaONNXPredictor
from prediction_log import PredictionLog
from shipper import Shipper, dead_letter_file, read_events

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


def stream(onnx_model: Path, texts: list[str]) -> list[dict]:
    predictor = ColaONNXPredictor(onnx_model)
    log = PredictionLog(predictor.tokenizer, "ab" * 32, "1", "fastapi")
    events = []
    for i in range(0, len(texts), 16):
        batch = texts[i:i + 16]
        events += log.events(f"r{i}", batch, predictor.predict(batch), 3.0)
    return events


def like_validation(onnx_model: Path) -> list[dict]:
    return stream(onnx_model, [text for _, text in toy_rows(300, seed=11)])


def drifted(onnx_model: Path) -> list[dict]:
    rng = random.Random(3)
    return stream(onnx_model, [" ".join(rng.choices(NEW_WORDS, k=rng.randint(12, 20))) + "."
                               for _ in range(300)])


def run(reference: Path, tmp_path: Path, *args: str) -> int:
    return drift_report.main([*args, "--set", f"onnx.reference={reference}",
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


def test_too_few_events_give_no_verdict(reference_file: Path, onnx_model: Path,
                                        tmp_path: Path, capsys) -> None:
    log = write_events(tmp_path / "service.log", drifted(onnx_model)[:20])
    assert run(reference_file, tmp_path, "--events", str(log)) == 0
    assert "fewer than monitoring.drift.min_events (100), no verdict" in capsys.readouterr().out


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
    (["--set", "onnx.reference=/nonexistent/reference_stats.json"], "no reference statistics"),
    (["--set", "monitoring.drift.p_value=2"], "p_value must be in (0, 1)"),
    (["--events", "/nonexistent.log"], "No such file or directory"),
    (["--events", "PARTIAL"], "have no score, text_tokens"),
])
def test_bad_input_is_one_line(problem: list[str], message: str, reference_file: Path,
                               tmp_path: Path, capsys) -> None:
    partial = tmp_path / "partial.log"  # events an older version wrote, without two fields
    write_events(partial, [{k: v for k, v in e.items() if k not in ("score", "text_tokens")}
                           for e in make_events(120)])
    problem = [str(partial) if a == "PARTIAL" else a for a in problem]
    args = problem if "onnx.reference" in " ".join(problem) else [
        *problem, "--set", f"onnx.reference={reference_file}"]
    assert drift_report.main([*args, "--set", f"monitoring.report_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_the_statistics_separate_shifted_from_resampled_data() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(50, 10, 2000)
    assert numeric_psi(base, base) == pytest.approx(0, abs=1e-9)
    assert numeric_psi(base, rng.normal(50, 10, 500)) < 0.1
    assert numeric_psi(base, rng.normal(65, 10, 500)) > 0.5
    reference = {"numeric": {f: base.tolist() for f in
                             ("text_chars", "text_tokens", "unk_share", "score")},
                 "label": {"unacceptable": 300, "acceptable": 700}}

    def events(shift: float, unacceptable: float) -> list[dict]:
        values = rng.normal(50 + shift, 10, 400)
        return [{"text_chars": v, "text_tokens": v, "unk_share": v, "score": v,
                 "label": "unacceptable" if rng.random() < unacceptable else "acceptable"}
                for v in values]

    assert not any(r.alert for r in compare(reference, events(0, 0.3), 0.01, 0.2))
    shifted = {r.feature: r.alert for r in compare(reference, events(15, 0.7), 0.01, 0.2)}
    assert shifted == dict.fromkeys(["text_chars", "text_tokens", "unk_share", "score",
                                     "label"], True)


def test_simulated_traffic_is_events_and_drifts_when_asked(onnx_model: Path, tmp_path: Path,
                                                           reference_file: Path,
                                                           capsys) -> None:
    sentences = write_tsv(tmp_path / "sentences.tsv", toy_rows(150, seed=21))
    for drift, expected in ((False, 0), (True, 1)):
        args = [str(sentences), "--model", str(onnx_model), "--spread-hours", "24"]
        assert simulate_traffic.main(args + (["--drift"] if drift else [])) == 0
        log = tmp_path / f"traffic_{drift}.log"
        log.write_text(capsys.readouterr().out)
        events = list(read_events(log.read_text().splitlines()))
        assert len(events) == 150 and len({e["event_id"] for e in events}) == 150
        hours = (datetime.fromisoformat(events[-1]["@timestamp"]) -
                 datetime.fromisoformat(events[0]["@timestamp"])).total_seconds() / 3600
        assert 23 < hours < 24
        assert run(reference_file, tmp_path, "--events", str(log)) == expected
        capsys.readouterr()
