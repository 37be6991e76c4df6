"""Fine-tune a transformer on CoLA, keep the best checkpoint, print the validation metrics,
and log the run to Weights & Biases. Every setting comes from configs/ (Hydra).

    python train.py                                   # configs/config.yaml as it is
    python train.py data.path=DIR model.name=DIR      # local GLUE TSVs and a local model
    python train.py model=tiny training=quick logger=csv
    python train.py logger=mlflow                     # or logger=tensorboard
    python train.py -m training.lr=1e-5,3e-5          # a sweep: one run per value
    python train.py --cfg job                         # print the composed config, run nothing
"""

import json
import os
import sys
import time
from pathlib import Path

import hydra
import pytorch_lightning as pl
import wandb
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, MLFlowLogger, TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from config_schema import ConfigError, check
from data import ColaDataModule, DataError, load_cola
from model import ColaModel, resolve_model
from wandb_callbacks import ValidationReport

NOT_VALIDATED = ("training stopped before its first validation, so no checkpoint was kept: a "
                 "step limit shorter than one epoch ends it early (limit_train_batches does not)")


def train(cfg: DictConfig) -> dict:
    check(cfg)
    started = time.monotonic()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    out = Path(cfg.output_dir)
    splits, data_source = load_cola(cfg.data.path)
    model_name, model_source = resolve_model(cfg.model.name, splits["train"]["sentence"][:],
                                             out / "fallback-model")
    print(f"data: {data_source} ({splits['train'].num_rows} train / "
          f"{splits['validation'].num_rows} validation rows); model: {model_source}")

    datamodule = ColaDataModule(splits, model_name, batch_size=cfg.data.batch_size,
                                max_length=cfg.data.max_length, num_workers=cfg.data.num_workers)
    model = ColaModel(model_name, lr=cfg.training.lr, weight_decay=cfg.training.weight_decay,
                      warmup_ratio=cfg.training.warmup_ratio, max_length=cfg.data.max_length,
                      data_source=data_source, model_source=model_source,
                      pooling=cfg.model.pooling, head_lr_factor=cfg.training.head_lr_factor,
                      layer_decay=cfg.training.layer_decay)
    mode = "min" if cfg.training.monitor.endswith("loss") else "max"
    checkpoint = ModelCheckpoint(dirpath=Path(cfg.checkpoint).parent,
                                 filename=Path(cfg.checkpoint).stem, monitor=cfg.training.monitor,
                                 mode=mode, save_top_k=1, enable_version_counter=False)
    loggers = make_loggers(cfg, out)
    trainer = pl.Trainer(
        **OmegaConf.to_container(cfg.training.trainer), logger=loggers,
        callbacks=[checkpoint,
                   EarlyStopping(monitor=cfg.training.monitor, mode=mode,
                                 patience=cfg.training.patience, check_on_train_epoch_end=False),
                   LearningRateMonitor(logging_interval="step"), ValidationReport(out / "plots")],
    )
    trainer.fit(model, datamodule=datamodule)
    if not checkpoint.best_model_path:
        raise ValueError(NOT_VALIDATED)
    metrics = trainer.validate(model, datamodule=datamodule, ckpt_path="best", verbose=False)[0]

    summary = {"checkpoint": str(Path(checkpoint.best_model_path)),
               "data_source": data_source, "model_source": model_source,
               "epochs_run": trainer.current_epoch,
               "minutes": round((time.monotonic() - started) / 60, 2),
               "config": OmegaConf.to_container(cfg, resolve=True),
               "val_metrics": {k: round(float(v), 4) for k, v in metrics.items()}}
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            summary["wandb_run_dir"] = log_best_checkpoint(logger, summary)
        elif isinstance(logger, MLFlowLogger):
            logger.experiment.log_artifact(logger.run_id, summary["checkpoint"], "model")
            summary["mlflow_run_id"] = logger.run_id
    (out / "run.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("best checkpoint:", summary["checkpoint"])
    print("validation:", "  ".join(f"{k}={v:.4f}" for k, v in summary["val_metrics"].items()))
    return summary


def make_loggers(cfg: DictConfig, out: Path) -> list:
    """The loggers configs/logger/ asks for (the group's options: wandb, csv, mlflow,
    tensorboard); each also gets the resolved config as its hyper-parameters."""
    config = OmegaConf.to_container(cfg, resolve=True)
    loggers: list = [CSVLogger(out, name="logs")] if cfg.logger.csv else []
    if cfg.logger.wandb:
        os.environ["WANDB_MODE"] = cfg.logger.wandb.mode
        loggers.append(WandbLogger(project=cfg.logger.wandb.project, save_dir=out,
                                   config=config))
    if cfg.logger.mlflow:
        loggers.append(MLFlowLogger(experiment_name=cfg.logger.mlflow.experiment,
                                    tracking_uri=cfg.logger.mlflow.tracking_uri,
                                    artifact_location=cfg.logger.mlflow.artifact_location))
        loggers[-1].log_hyperparams(config)
    if cfg.logger.tensorboard:
        loggers.append(TensorBoardLogger(out, name="tensorboard", default_hp_metric=False))
    return loggers


def log_best_checkpoint(logger: WandbLogger, summary: dict) -> str:
    """Store the best checkpoint as a W&B model artifact, finish the run, return its folder."""
    run = logger.experiment
    artifact = wandb.Artifact("cola-model", type="model", metadata=summary["val_metrics"])
    artifact.add_file(summary["checkpoint"])
    run.log_artifact(artifact, aliases=["best"])
    run.summary.update({f"best/{k.split('/')[-1]}": v for k, v in summary["val_metrics"].items()})
    run_dir = str(Path(run.dir).parent)
    run.finish()
    print(f"W&B run ({os.environ.get('WANDB_MODE', 'online')}): {run_dir}")
    return run_dir


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def main(cfg: DictConfig) -> float:
    cfg.output_dir = HydraConfig.get().runtime.output_dir  # differs per job in a multirun
    try:
        summary = train(cfg)
    except (ConfigError, DataError, ValueError, MisconfigurationException) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    return summary["val_metrics"][cfg.training.monitor]  # what a sweeper optimises


if __name__ == "__main__":
    main()
