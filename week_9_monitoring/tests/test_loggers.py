"""The other trackers of the logger group, read back from what each one wrote: MLflow's run
(metrics, params, the checkpoint as an artifact) and TensorBoard's event file."""

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from config_schema import load_config
from train import train

pytestmark = pytest.mark.slow  # two short training runs


def short_run(tmp_path: Path, toy_data_dir: Path, tiny_model_dir: str, *overrides: str) -> dict:
    return train(load_config(f"data.path={toy_data_dir}", f"model.name={tiny_model_dir}",
                             "training.trainer.max_epochs=2", "training.lr=3e-3",
                             f"output_dir={tmp_path / 'run'}", *overrides))


def test_mlflow_records_metrics_params_and_the_model(tmp_path: Path, toy_data_dir: Path,
                                                     tiny_model_dir: str) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    summary = short_run(tmp_path, toy_data_dir, tiny_model_dir, "logger=mlflow",
                        f"logger.mlflow.tracking_uri={uri}",
                        f"logger.mlflow.artifact_location={tmp_path / 'mlartifacts'}")
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(summary["mlflow_run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "mlops-basics"
    history = client.get_metric_history(run.info.run_id, "val/mcc")
    # one value per validation epoch, then the final validation of the best checkpoint
    assert len(history) == 3
    assert history[-1].value == summary["val_metrics"]["val/mcc"]
    assert run.data.params["training/lr"] == "0.003"
    assert run.data.params["model/name"] == tiny_model_dir
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "model")]
    assert artifacts == ["model/best.ckpt"]
    assert (tmp_path / "mlartifacts").is_dir()


def test_tensorboard_writes_the_scalars(tmp_path: Path, toy_data_dir: Path,
                                        tiny_model_dir: str) -> None:
    short_run(tmp_path, toy_data_dir, tiny_model_dir, "logger=tensorboard")
    events = next((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*"))
    accumulator = EventAccumulator(str(events.parent))
    accumulator.Reload()
    scalars = accumulator.Tags()["scalars"]
    assert {"val/mcc", "val/loss", "train/loss"} <= set(scalars)
    assert len(accumulator.Scalars("val/mcc")) == 3  # 2 epochs + the best checkpoint's
