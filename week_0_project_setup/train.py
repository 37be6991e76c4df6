"""Fine-tune a transformer on CoLA, keep the best checkpoint, print the validation metrics.

    python train.py                                   # Hub data and model (the default)
    python train.py --data-dir DIR --model DIR        # local GLUE TSVs and a local model
"""

import argparse
import json
import sys
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from data import MAX_LENGTH, ColaDataModule, DataError, load_cola
from model import DEFAULT_MODEL, POOLINGS, ColaModel, resolve_model

MONITOR = "val/mcc"
NOT_VALIDATED = ("training stopped before its first validation, so no checkpoint was kept: a "
                 "step limit shorter than one epoch ends it early")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="folder with GLUE-format train.tsv and "
                        "validation.tsv (default: $COLA_DATA_DIR, else the Hub)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="Hub id or local model folder")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--max-steps", type=int, default=-1, help="stop early (-1: no limit)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=MAX_LENGTH,
                        help="longest input in tokens; stored in the checkpoint for serving")
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--pooling", choices=POOLINGS, default="pooler",
                        help="what the head reads: BERT's pooler or the mean token vector")
    parser.add_argument("--head-lr-factor", type=float, default=1.0,
                        help="the new head's learning rate as a multiple of --lr")
    parser.add_argument("--layer-decay", type=float, default=1.0,
                        help="each lower layer's learning rate is this times the one above")
    parser.add_argument("--patience", type=int, default=2,
                        help="epochs without a better val MCC before stopping")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output-dir", default="outputs")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "max_length"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.lr <= 0 or not 0 <= args.warmup_ratio < 1:
        parser.error("--lr must be positive and --warmup-ratio in [0, 1)")
    if args.head_lr_factor <= 0 or not 0 < args.layer_decay <= 1:
        parser.error("--head-lr-factor must be positive and --layer-decay in (0, 1]")
    return args


def train(args: argparse.Namespace) -> dict:
    pl.seed_everything(args.seed, workers=True, verbose=False)
    out = Path(args.output_dir)
    splits, data_source = load_cola(args.data_dir)
    model_name, model_source = resolve_model(args.model, splits["train"]["sentence"][:],
                                             out / "fallback-model")
    print(f"data: {data_source} ({splits['train'].num_rows} train / "
          f"{splits['validation'].num_rows} validation rows); model: {model_source}")

    datamodule = ColaDataModule(splits, model_name, batch_size=args.batch_size,
                                max_length=args.max_length)
    model = ColaModel(model_name, lr=args.lr, warmup_ratio=args.warmup_ratio,
                      max_length=args.max_length, data_source=data_source,
                      model_source=model_source, pooling=args.pooling,
                      head_lr_factor=args.head_lr_factor, layer_decay=args.layer_decay)
    checkpoint = ModelCheckpoint(dirpath=out / "checkpoints", filename="best", monitor=MONITOR,
                                 mode="max", save_top_k=1, enable_version_counter=False)
    trainer = pl.Trainer(
        max_epochs=args.epochs, max_steps=args.max_steps, deterministic=True,
        logger=CSVLogger(out, name="logs"),
        callbacks=[checkpoint, EarlyStopping(monitor=MONITOR, mode="max", patience=args.patience,
                                             check_on_train_epoch_end=False)],
        log_every_n_steps=10,
    )
    trainer.fit(model, datamodule=datamodule)
    if not checkpoint.best_model_path:
        raise ValueError(NOT_VALIDATED)
    metrics = trainer.validate(model, datamodule=datamodule, ckpt_path="best", verbose=False)[0]

    summary = {"checkpoint": str(Path(checkpoint.best_model_path)),
               "data_source": data_source, "model_source": model_source,
               "epochs_run": trainer.current_epoch, "args": vars(args),
               "val_metrics": {k: round(float(v), 4) for k, v in metrics.items()}}
    (out / "run.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("best checkpoint:", summary["checkpoint"])
    print("validation:", "  ".join(f"{k}={v:.4f}" for k, v in summary["val_metrics"].items()))
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        train(args)
    except (DataError, ValueError, MisconfigurationException) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
