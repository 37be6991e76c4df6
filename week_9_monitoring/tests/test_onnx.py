"""ONNX export and ONNX Runtime inference: parity with PyTorch, dynamic shapes, no torch at
serving time, clear errors for missing or corrupt files."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from benchmark import main as benchmark_main
from config_schema import load_config
from convert_model_to_onnx import convert, max_difference
from helpers import WEEK_DIR, toy_rows
from inference import ColaPredictor
from inference_onnx import ColaONNXPredictor
from inference_onnx import main as onnx_main
from test_head import mean_pooled_logits_by_hand
from train import train

SENTENCES = [text for _, text in toy_rows(40, seed=2)]


@pytest.fixture(scope="module")
def exported(trained_run: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("onnx")
    stats = convert(trained_run["checkpoint"], str(folder / "model.onnx"),
                    str(folder / "model.int8.onnx"))
    return {"fp32": folder / "model.onnx", "int8": folder / "model.int8.onnx", **stats}


def test_export_matches_the_trained_weights_run_by_hand(exported: dict, trained_run: dict,
                                                        tiny_model_dir: str) -> None:
    """ONNX Runtime on the exported file vs the checkpoint's weights in a plain transformers
    model: the same logits, for batches with padding."""
    weights = torch.load(trained_run["checkpoint"], map_location="cpu",
                         weights_only=False)["state_dict"]
    reference = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    reference.load_state_dict({k.removeprefix("model."): v for k, v in weights.items()})
    reference.eval()
    batch = AutoTokenizer.from_pretrained(tiny_model_dir)(SENTENCES[:7], padding=True,
                                                          return_tensors="pt")
    with torch.no_grad():
        expected = reference(**batch).logits.numpy()
    session = ort.InferenceSession(str(exported["fp32"]), providers=["CPUExecutionProvider"])
    got = session.run(["logits"], {k: v.numpy() for k, v in batch.items()})[0]
    assert np.abs(got - expected).max() <= 1e-4
    assert exported["max_difference"] == pytest.approx(
        max_difference(ColaPredictor(trained_run["checkpoint"]), exported["fp32"]))


def test_both_files_are_fused_into_onnx_runtime_operators(exported: dict) -> None:
    for path in (exported["fp32"], exported["int8"]):
        ops = {(node.domain, node.op_type) for node in onnx.load(str(path)).graph.node}
        assert ("com.microsoft", "SkipLayerNormalization") in ops, path.name
        assert {("com.microsoft", "Attention"), ("com.microsoft", "MultiHeadAttention")} & ops
    assert exported["fused"].get("skip_layer_normalization", 0) >= 1, exported["fused"]
    int8_ops = {node.op_type for node in onnx.load(str(exported["int8"])).graph.node}
    assert "MatMulInteger" in int8_ops  # quantized before fusing: the weights really are int8


def test_batch_and_sequence_axes_are_dynamic_and_the_file_is_self_contained(exported) -> None:
    model = onnx.load(str(exported["fp32"]))
    for graph_input in model.graph.input:
        batch, sequence = graph_input.type.tensor_type.shape.dim
        assert batch.dim_param and sequence.dim_param, graph_input.name
    assert not list(exported["fp32"].parent.glob("*.data"))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["labels"] == "unacceptable,acceptable" and meta["max_length"] == "128"
    assert '"model"' in meta["tokenizer"]  # the tokenizer inside the file


def test_max_length_travels_from_the_config_to_the_onnx_predictor(
        tmp_path: Path, toy_data_dir: Path, tiny_model_dir: str) -> None:
    summary = train(load_config(f"data.path={toy_data_dir}", f"model.name={tiny_model_dir}",
                                "training.trainer.max_epochs=1", "data.max_length=6",
                                f"output_dir={tmp_path}", "logger=csv"))
    convert(summary["checkpoint"], str(tmp_path / "m.onnx"), str(tmp_path / "m.int8.onnx"))
    for path in (tmp_path / "m.onnx", tmp_path / "m.int8.onnx"):
        predictor = ColaONNXPredictor(path)
        assert predictor.max_length == 6
        assert len(predictor.tokenizer.encode("The cat sat on a warm mat today.").ids) == 6
    long = ["The cat sat on a warm mat and slept well today."]
    expected = ColaPredictor(summary["checkpoint"]).predict(long)[0]["score"]
    assert ColaONNXPredictor(tmp_path / "m.onnx").predict(long)[0]["score"] == pytest.approx(
        expected, abs=1e-4)


def test_onnx_and_pytorch_predictors_agree(exported: dict, trained_run: dict) -> None:
    expected = ColaPredictor(trained_run["checkpoint"]).predict(SENTENCES)
    got = ColaONNXPredictor(exported["fp32"]).predict(SENTENCES)
    assert [p["label"] for p in got] == [p["label"] for p in expected]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(got, expected, strict=True)) < 1e-4
    quantized = ColaONNXPredictor(exported["int8"]).predict(SENTENCES)
    agreement = sum(a["label"] == b["label"] for a, b in zip(quantized, expected, strict=True))
    assert agreement / len(SENTENCES) >= 0.9
    assert exported["int8"].stat().st_size < exported["fp32"].stat().st_size


@pytest.mark.slow
def test_a_mean_pooling_model_exports_with_its_pooling(tmp_path: Path, toy_data_dir: Path,
                                                       tiny_model_dir: str) -> None:
    summary = train(load_config(f"data.path={toy_data_dir}", f"model.name={tiny_model_dir}",
                                "training.trainer.max_epochs=1", "model.pooling=mean",
                                "logger=csv", f"output_dir={tmp_path}"))
    stats = convert(summary["checkpoint"], str(tmp_path / "m.onnx"), str(tmp_path / "m8.onnx"))
    assert stats["max_difference"] <= 1e-4
    model = ColaPredictor(summary["checkpoint"]).model
    with torch.no_grad():
        expected = torch.softmax(mean_pooled_logits_by_hand(model, SENTENCES[:5]), dim=-1)
    got = ColaONNXPredictor(tmp_path / "m.onnx").predict(SENTENCES[:5])
    assert [p["score"] for p in got] == pytest.approx(expected.max(dim=-1).values.tolist(),
                                                      abs=1e-4)


def test_inputs_are_padded_to_the_longest_sentence_only(exported: dict) -> None:
    predictor = ColaONNXPredictor(exported["fp32"])
    encodings = predictor.tokenizer.encode_batch(["Short.", "A little longer than that."])
    assert len(encodings[0].ids) == len(encodings[1].ids) < 20


def test_serving_path_does_not_import_torch(exported: dict) -> None:
    code = ("import sys, inference_onnx\n"
            f"print(inference_onnx.ColaONNXPredictor({str(exported['fp32'])!r}).predict('Hi.'))\n"
            "assert not any(m.split('.')[0] in ('torch', 'pytorch_lightning', 'transformers')"
            " for m in sys.modules), 'a training library was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=WEEK_DIR, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'label'" in result.stdout


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"model\.onnx not found"):
        ColaONNXPredictor(tmp_path / "model.onnx")


def with_metadata(source: Path, target: Path, **changes: str | None) -> Path:
    model = onnx.load(str(source))
    meta = {p.key: p.value for p in model.metadata_props} | changes
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {k: v for k, v in meta.items() if v is not None})
    onnx.save(model, str(target))
    return target


@pytest.mark.parametrize("changes, message", [
    ({"tokenizer": None}, "no tokenizer in its metadata"),
    ({"tokenizer": '{"version": "1.0", "model": {broken'}, "unreadable tokenizer"),
    ({"max_length": "many"}, "unreadable tokenizer or max_length"),
    ({"labels": "no,yes"}, "labels 'no,yes', this code expects"),
])
def test_a_bundle_with_bad_metadata_is_reported(tmp_path: Path, exported: dict, changes: dict,
                                                message: str) -> None:
    path = with_metadata(exported["fp32"], tmp_path / "model.onnx", **changes)
    with pytest.raises(ValueError, match=message):
        ColaONNXPredictor(path)
    assert onnx_main(["--model", str(path), "Hello."]) == 2


def test_corrupt_model_is_reported(tmp_path: Path, exported: dict) -> None:
    (tmp_path / "model.onnx").write_bytes(exported["fp32"].read_bytes()[:5000])
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        ColaONNXPredictor(tmp_path / "model.onnx")
    assert onnx_main(["--model", str(tmp_path / "model.onnx"), "Hello."]) == 2


@pytest.mark.parametrize("bad", ["", [], ["fine", "  "], 7])
def test_bad_input_is_rejected_like_the_pytorch_predictor(exported: dict, bad) -> None:
    with pytest.raises(ValueError, match="expected a"):
        ColaONNXPredictor(exported["fp32"]).predict(bad)


def test_cli_prints_predictions(exported: dict, capsys) -> None:
    assert onnx_main(["--model", str(exported["int8"]), "The cat slept.", "Seven colour."]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["acceptable", "unacceptable"]


def test_cli_takes_the_model_path_from_the_config(tmp_path: Path, capsys) -> None:
    assert onnx_main(["--set", f"output_dir={tmp_path}", "Hello."]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path}/onnx/model.int8.onnx not found")
    assert onnx_main(["--set", "onnx.nope=1", "Hello."]) == 2  # a bad override: one line
    err = capsys.readouterr().err
    assert err.startswith("error: Could not override 'onnx.nope'") and "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    (["--set", "output_dir={tmp}"], "error: checkpoint not found: {tmp}/checkpoints/best.ckpt"),
    (["--set", "checkpoint={ckpt}", "--set", "output_dir={tmp}"],
     "error: {tmp}/onnx/model.onnx not found"),
    (["--set", "nope=1"], "error: Could not override 'nope'"),
    (["--set", "data.path={tmp}"], "error: {tmp}/validation.tsv: file not found"),
])
def test_benchmark_reports_what_is_missing_in_one_line(tmp_path: Path, trained_run: dict,
                                                       capsys, args: list[str],
                                                       message: str) -> None:
    values = {"tmp": tmp_path, "ckpt": trained_run["checkpoint"]}
    assert benchmark_main([a.format(**values) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(**values)) and "Traceback" not in err, err
    assert err.count("\n") <= 2  # Hydra adds a hint line to a bad override
