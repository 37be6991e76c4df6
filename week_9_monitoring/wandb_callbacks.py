"""Lightning callbacks that send richer views of each validation epoch to Weights & Biases:
a confusion matrix (as a W&B plot and a PNG in the output folder) and a table of the
validation sentences the model got wrong."""

from pathlib import Path

import matplotlib
import pytorch_lightning as pl
import torch
import wandb
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_warn

from data import LABELS

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt


def find_wandb_logger(trainer: pl.Trainer) -> WandbLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)


def save_confusion_matrix(matrix: torch.Tensor, path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(matrix.numpy(), cmap="Blues")
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=LABELS, yticklabels=LABELS,
           xlabel="predicted", ylabel="actual", title=title)
    for row in range(2):
        for col in range(2):
            count = int(matrix[row, col])
            ax.text(col, row, str(count), ha="center", va="center",
                    color="white" if count > matrix.max() / 2 else "black")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def misclassified(labels: torch.Tensor, probs: torch.Tensor, sentences: list[str],
                  max_rows: int) -> tuple[torch.Tensor, list[list]]:
    """The confusion matrix (rows: actual, columns: predicted) and up to `max_rows` rows of
    [sentence, label, prediction, score] for the sentences the model got wrong."""
    preds = probs.argmax(dim=-1)
    matrix = torch.zeros(2, 2, dtype=torch.long)
    matrix.index_put_((labels, preds), torch.ones_like(labels), accumulate=True)
    wrong = (preds != labels).nonzero().flatten().tolist()[:max_rows]
    rows = [[sentences[i], LABELS[labels[i]], LABELS[preds[i]], round(float(probs[i].max()), 4)]
            for i in wrong]
    return matrix, rows


class ValidationReport(pl.Callback):
    """After each validation epoch: confusion matrix and misclassified sentences to W&B.

    Single process only: under DDP each process sees a share of the validation set, so the
    report is skipped there (with a warning) rather than drawn from a share."""

    def __init__(self, plots_dir: str | Path, max_rows: int = 200) -> None:
        self.plots_dir = Path(plots_dir)
        self.max_rows = max_rows

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not pl_module.val_outputs:
            return
        if trainer.world_size > 1:
            rank_zero_warn("ValidationReport works in a single process; skipped under "
                           f"{trainer.world_size} processes")
            return
        labels = torch.cat([o["labels"] for o in pl_module.val_outputs])
        probs = torch.cat([o["probs"] for o in pl_module.val_outputs])
        sentences = trainer.datamodule.splits["validation"]["sentence"][:]
        matrix, rows = misclassified(labels, probs, sentences, self.max_rows)
        epoch = trainer.current_epoch
        image = save_confusion_matrix(matrix, self.plots_dir / f"confusion_matrix_epoch{epoch}.png",
                                      f"validation, epoch {epoch}")

        logger = find_wandb_logger(trainer)
        if logger is None:
            return
        table = wandb.Table(columns=["sentence", "label", "prediction", "score"], data=rows)
        logger.experiment.log({
            "val/confusion_matrix": wandb.plot.confusion_matrix(
                y_true=labels.tolist(), preds=probs.argmax(dim=-1).tolist(),
                class_names=list(LABELS)),
            "val/confusion_matrix_image": wandb.Image(str(image)),
            "val/misclassified": table,
            "trainer/global_step": trainer.global_step,
        })
