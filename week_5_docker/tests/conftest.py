"""Offline fixtures: a tiny BERT built in the session and small TSV files written by the tests
(helpers.py writes them)."""

import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before any Hugging Face import: tests never use the network
os.environ.pop("COLA_DATA_DIR", None)
os.environ["WANDB_MODE"] = "offline"  # W&B runs are written locally, never uploaded

import pytest

from helpers import WEEK_DIR, toy_rows, write_tsv

sys.path.insert(0, str(WEEK_DIR))


def pytest_configure(config: pytest.Config) -> None:
    # registered here too, so that this week copied out of the course on its own knows them
    config.addinivalue_line("markers", "slow: takes more than a few seconds (left out of the "
                            "smoke run: pytest -m 'not slow')")
    config.addinivalue_line("markers", "container: builds or runs a container image")
    config.addinivalue_line("markers", "real_data: reads the real CoLA files beside the "
                            "course (skips without them)")


@pytest.fixture(scope="session")
def toy_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("toy_cola")
    write_tsv(data_dir / "train.tsv", toy_rows(160, seed=1))
    write_tsv(data_dir / "validation.tsv", toy_rows(40, seed=2))
    return data_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    from offline import build_tiny_model

    sentences = [text for _, text in toy_rows(160, seed=1)]
    return build_tiny_model(tmp_path_factory.mktemp("tiny_bert"), sentences)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, toy_data_dir: Path,
                tiny_model_dir: str) -> dict:
    """One short training run on the toy task, shared by the tests that need a trained model."""
    from config_schema import load_config
    from train import train

    out = tmp_path_factory.mktemp("run")
    return train(load_config(
        f"data.path={toy_data_dir}", f"model.name={tiny_model_dir}", "data.batch_size=16",
        "training.trainer.max_epochs=8", "training.patience=8", "training.lr=3e-3",
        f"output_dir={out}"))


@pytest.fixture(scope="session")
def onnx_model(trained_run: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained run exported: the int8 ONNX bundle that the service loads."""
    from convert_model_to_onnx import convert

    folder = tmp_path_factory.mktemp("onnx")
    convert(trained_run["checkpoint"], str(folder / "model.onnx"),
            str(folder / "model.int8.onnx"))
    return folder / "model.int8.onnx"
