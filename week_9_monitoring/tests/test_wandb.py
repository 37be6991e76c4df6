"""W&B logging: what an offline run records, read back from the run's own files."""

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import torch
from wandb.proto import wandb_internal_pb2

from config_schema import load_config
from train import train
from wandb_callbacks import misclassified

BLOCK = 32768  # the .wandb file is a LevelDB-style log: 32 KiB blocks of framed records


def wandb_records(run_dir: str | Path) -> Iterator[wandb_internal_pb2.Record]:
    data = next(Path(run_dir).glob("run-*.wandb")).read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
    pos, chunk = 7, b""
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:  # block trailer
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:  # zero padding up to the next block
            pos += BLOCK - pos % BLOCK
            continue
        chunk, pos = chunk + data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            chunk = b""
            yield record


def recorded(run_dir: str) -> dict:
    history, config, artifacts = set(), {}, []
    for record in wandb_records(run_dir):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history |= {item.key or "/".join(item.nested_key) for item in record.history.item}
        elif kind in ("run", "config"):  # wandb.init's config, then later updates
            updates = record.run.config.update if kind == "run" else record.config.update
            config |= {item.key: json.loads(item.value_json) for item in updates}
        elif kind == "artifact":
            artifacts.append((record.artifact.name, record.artifact.type,
                              [entry.path for entry in record.artifact.manifest.contents]))
    return {"history": history, "config": config, "artifacts": artifacts}


def latest_table(run_dir: str, name: str) -> dict:
    tables = sorted(Path(run_dir, "files", "media", "table", "val").glob(f"{name}_*.table.json"),
                    key=lambda p: int(p.name.split("_")[-2]))
    assert tables, f"no {name} table in the run"
    return json.loads(tables[-1].read_text())


def test_run_records_metrics_lr_and_hyperparameters(trained_run: dict) -> None:
    run = recorded(trained_run["wandb_run_dir"])
    for split in ("train", "val"):
        for metric in ("loss", "acc", "f1", "mcc", "precision", "recall"):
            assert f"{split}/{metric}" in run["history"]
    assert any(key.startswith("lr-AdamW") for key in run["history"])
    assert run["config"]["training"]["lr"] == 3e-3
    assert run["config"]["model_source"].startswith("local:")


def test_run_records_the_confusion_matrix(trained_run: dict) -> None:
    run = recorded(trained_run["wandb_run_dir"])
    assert "val/confusion_matrix_table/path" in run["history"]
    table = latest_table(trained_run["wandb_run_dir"], "confusion_matrix_table")
    assert sum(row[-1] for row in table["data"]) == 40  # every validation sentence, once
    images = list((Path(trained_run["checkpoint"]).parents[1] / "plots").glob("*.png"))
    assert images and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in images)


def test_misclassified_table_holds_exactly_the_mistakes(trained_run: dict,
                                                        toy_data_dir: Path) -> None:
    run_dir = trained_run["wandb_run_dir"]
    table = latest_table(run_dir, "misclassified")
    matrix = latest_table(run_dir, "confusion_matrix_table")  # the same epoch's counts
    assert table["columns"] == ["sentence", "label", "prediction", "score"]
    mistakes = sum(row[-1] for row in matrix["data"] if row[0] != row[1])
    assert len(table["data"]) == mistakes
    validation = toy_data_dir.joinpath("validation.tsv").read_text().splitlines()
    truth = {line.split("\t")[3]: "acceptable" if line.split("\t")[1] == "1" else "unacceptable"
             for line in validation}
    for sentence, label, prediction, score in table["data"]:
        assert truth[sentence] == label != prediction and score > 0.5


def test_the_report_counts_every_mistake_of_an_epoch(tmp_path: Path) -> None:
    """The callback on known outputs: 3 of 5 predictions wrong -> 3 rows, matrix [[1,2],[1,1]]."""
    labels = torch.tensor([0, 0, 0, 1, 1])
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3], [0.1, 0.9]])
    sentences = ["s0", "s1", "s2", "s3", "s4"]
    matrix, rows = misclassified(labels, probs, sentences, max_rows=10)
    assert matrix.tolist() == [[1, 2], [1, 1]]
    assert rows == [["s1", "unacceptable", "acceptable", 0.8],
                    ["s2", "unacceptable", "acceptable", 0.6],
                    ["s3", "acceptable", "unacceptable", 0.7]]
    assert len(misclassified(labels, probs, sentences, max_rows=2)[1]) == 2


def test_best_checkpoint_is_a_model_artifact(trained_run: dict) -> None:
    artifacts = recorded(trained_run["wandb_run_dir"])["artifacts"]
    assert ("cola-model", "model", ["best.ckpt"]) in artifacts


def test_training_without_wandb_still_works(tmp_path: Path, toy_data_dir: Path,
                                            tiny_model_dir: str) -> None:
    summary = train(load_config(f"data.path={toy_data_dir}", f"model.name={tiny_model_dir}",
                                   "training.trainer.max_epochs=1", f"output_dir={tmp_path}",
                                   "logger=csv"))
    assert Path(summary["checkpoint"]).is_file() and "wandb_run_dir" not in summary
    assert not (tmp_path / "wandb").exists()
