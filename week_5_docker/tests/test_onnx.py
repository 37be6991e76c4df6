"""ONNX export and ONNX Runtime inference: parity with PyTorch, dynamic shapes, no torch at
serving time, clear errors for missing or corrupt files."""

import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from conftest import WEEK_DIR, toy_rows
from convert_model_to_onnx import convert, max_difference
from inference import ColaPredictor
from inference_onnx import ColaONNXPredictor
from inference_onnx import main as onnx_main

SENTENCES = [text for _, text in toy_rows(40, seed=2)]


@pytest.fixture(scope="module")
def exported(trained_run: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("onnx")
    stats = convert(trained_run["checkpoint"], str(folder / "model.onnx"),
                    str(folder / "model.int8.onnx"))
    return {"fp32": folder / "model.onnx", "int8": folder / "model.int8.onnx", **stats}


def test_export_matches_pytorch_within_tolerance(exported: dict, trained_run: dict) -> None:
    assert exported["max_difference"] <= 1e-4
    assert max_difference(ColaPredictor(trained_run["checkpoint"]), exported["fp32"]) <= 1e-4


def test_batch_and_sequence_axes_are_dynamic_and_the_file_is_self_contained(exported) -> None:
    model = onnx.load(str(exported["fp32"]))
    for graph_input in model.graph.input:
        batch, sequence = graph_input.type.tensor_type.shape.dim
        assert batch.dim_param and sequence.dim_param, graph_input.name
    assert not list(exported["fp32"].parent.glob("*.data"))
    assert {p.key: p.value for p in model.metadata_props}["labels"] == "unacceptable,acceptable"


def test_onnx_and_pytorch_predictors_agree(exported: dict, trained_run: dict) -> None:
    expected = ColaPredictor(trained_run["checkpoint"]).predict(SENTENCES)
    got = ColaONNXPredictor(exported["fp32"]).predict(SENTENCES)
    assert [p["label"] for p in got] == [p["label"] for p in expected]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(got, expected, strict=True)) < 1e-4
    quantized = ColaONNXPredictor(exported["int8"]).predict(SENTENCES)
    agreement = sum(a["label"] == b["label"] for a, b in zip(quantized, expected, strict=True))
    assert agreement / len(SENTENCES) >= 0.9
    assert exported["int8"].stat().st_size < exported["fp32"].stat().st_size


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


def test_missing_files_are_reported(tmp_path: Path, exported: dict) -> None:
    with pytest.raises(FileNotFoundError, match=r"model\.onnx not found"):
        ColaONNXPredictor(tmp_path / "model.onnx")
    (tmp_path / "model.onnx").write_bytes(exported["fp32"].read_bytes())
    with pytest.raises(FileNotFoundError, match=r"tokenizer\.json not found"):
        ColaONNXPredictor(tmp_path / "model.onnx")


def test_corrupt_model_is_reported(tmp_path: Path, exported: dict) -> None:
    (tmp_path / "tokenizer.json").write_bytes((exported["fp32"].parent / "tokenizer.json")
                                              .read_bytes())
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
    assert capsys.readouterr().err.startswith(f"error: {tmp_path}/onnx/model.onnx not found")
    assert onnx_main(["--set", "onnx.nope=1", "Hello."]) == 2  # a bad override: one line
    err = capsys.readouterr().err
    assert err.startswith("error: Could not override 'onnx.nope'") and "Traceback" not in err
