"""Types for the Hydra config in configs/. The YAML files hold the values; these dataclasses
make Hydra reject a wrong type or an unknown key when the config is composed."""

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


@dataclass
class DataConfig:
    path: str | None = MISSING
    batch_size: int = MISSING
    max_length: int = MISSING
    num_workers: int = MISSING


@dataclass
class ModelConfig:
    name: str = MISSING
    pooling: str = MISSING


@dataclass
class TrainerConfig:
    max_epochs: int = MISSING
    max_steps: int = MISSING
    limit_train_batches: Any = MISSING  # a count of batches per epoch, or a share (1.0: all)
    accelerator: str = MISSING
    devices: Any = MISSING  # "auto", a count, or a list of device ids
    num_nodes: int = MISSING
    strategy: str = MISSING
    precision: str = MISSING
    accumulate_grad_batches: int = MISSING
    deterministic: bool = MISSING
    log_every_n_steps: int = MISSING


@dataclass
class TrainingConfig:
    lr: float = MISSING
    warmup_ratio: float = MISSING
    weight_decay: float = MISSING
    head_lr_factor: float = MISSING
    layer_decay: float = MISSING
    monitor: str = MISSING
    patience: int = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


@dataclass
class WandbConfig:
    project: str = MISSING
    mode: str = MISSING


@dataclass
class MlflowConfig:
    experiment: str = MISSING
    tracking_uri: str = MISSING
    artifact_location: str = MISSING


@dataclass
class LoggerConfig:
    csv: bool = MISSING
    wandb: WandbConfig | None = None
    mlflow: MlflowConfig | None = None
    tensorboard: bool = False


@dataclass
class OnnxConfig:
    dir: str = MISSING
    model: str = MISSING
    quantized: str = MISSING
    opset: int = MISSING
    tolerance: float = MISSING


@dataclass
class ShipConfig:
    chunk_size: int = MISSING
    retries: int = MISSING
    backoff_s: float = MISSING


@dataclass
class DriftConfig:
    window_hours: float = MISSING
    min_events: int = MISSING
    p_value: float = MISSING
    psi: float = MISSING


@dataclass
class MonitoringConfig:
    opensearch: str = MISSING
    aws_region: str | None = None
    reference: str = MISSING
    dead_letter: str = MISSING
    report_dir: str = MISSING
    ship: ShipConfig = field(default_factory=ShipConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    seed: int = MISSING
    output_dir: str = MISSING
    checkpoint: str = MISSING
    onnx: OnnxConfig = field(default_factory=OnnxConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)


ConfigStore.instance().store(name="schema", node=Config)
CONFIG_DIR = Path(__file__).resolve().parent / "configs"


CONFIG_ERRORS = (HydraException, OmegaConfBaseException)  # what a bad override raises


def add_override_option(parser: argparse.ArgumentParser) -> None:
    """--set KEY=VALUE for command lines that read the config without being Hydra apps."""
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override the config, as on train.py's command line")


def load_config(*overrides: str) -> DictConfig:
    """The config exactly as `python train.py OVERRIDES...` composes it, for code that is not a
    Hydra app (the predictor's command line, tests, notebooks)."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        return compose(config_name="config", overrides=list(overrides))


class ConfigError(ValueError):
    """A config that composed but cannot be used."""


def check(cfg: DictConfig) -> None:
    """Fail early, in one line, on what types alone cannot catch."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"missing value for {', '.join(missing)} (set it: key=value)")
    rules = [
        (cfg.training.lr > 0, "training.lr must be positive"),
        (0 <= cfg.training.warmup_ratio < 1, "training.warmup_ratio must be in [0, 1)"),
        (cfg.training.head_lr_factor > 0, "training.head_lr_factor must be positive"),
        (0 < cfg.training.layer_decay <= 1, "training.layer_decay must be in (0, 1]"),
        (cfg.model.pooling in ("pooler", "mean"), "model.pooling must be pooler or mean"),
        (cfg.data.batch_size >= 1, "data.batch_size must be at least 1"),
        (cfg.data.max_length >= 1, "data.max_length must be at least 1"),
        (cfg.training.trainer.max_epochs >= 1, "training.trainer.max_epochs must be at least 1"),
        (cfg.training.monitor in MONITORS, f"training.monitor must be one of {MONITORS}"),
        (cfg.logger.wandb is None or cfg.logger.wandb.mode in ("online", "offline", "disabled"),
         "logger.wandb.mode must be online, offline or disabled"),
    ]
    raise_first(rules)


def check_monitoring(cfg: DictConfig) -> None:
    """The monitoring section's rules (monitoring/ship.py, monitoring/drift_report.py)."""
    ship, drift = cfg.monitoring.ship, cfg.monitoring.drift
    raise_first([
        (ship.chunk_size >= 1, "monitoring.ship.chunk_size must be at least 1"),
        (ship.retries >= 0, "monitoring.ship.retries must not be negative"),
        (ship.backoff_s >= 0, "monitoring.ship.backoff_s must not be negative"),
        (drift.window_hours > 0, "monitoring.drift.window_hours must be positive"),
        (drift.min_events >= 2, "monitoring.drift.min_events must be at least 2"),
        (0 < drift.p_value < 1, "monitoring.drift.p_value must be in (0, 1)"),
        (drift.psi > 0, "monitoring.drift.psi must be positive"),
    ])


def raise_first(rules: list[tuple[bool, str]]) -> None:
    for ok, message in rules:
        if not ok:
            raise ConfigError(message)


MONITORS = ("val/mcc", "val/acc", "val/f1", "val/loss")
