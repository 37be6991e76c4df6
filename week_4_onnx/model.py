"""ColaModel: a pretrained transformer with a 2-way classification head, its metrics and its
optimiser. Its checkpoint is a bundle that loads alone: weights, the architecture's config
(with the label names), the tokenizer and max_length, so no base model or Hub is needed to
load it on another machine."""

import re
import tempfile
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedTokenizerBase,
    get_linear_schedule_with_warmup,
)

from data import MAX_LENGTH
from offline import build_tiny_model, hub_reachable
from prediction import LABELS

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# What the head reads: "pooler", BERT's dense layer over the first ([CLS]) token; or "mean",
# the average of the last layer's token vectors, the way sentence encoders are trained.
POOLINGS = ("pooler", "mean")


def resolve_model(name: str, sentences: list[str], fallback_dir: str | Path) -> tuple[str, str]:
    """Return (name or path to load, source). A Hub model that cannot be had, from the Hub or
    the local cache, is replaced by a tiny untrained BERT built in `fallback_dir`."""
    if Path(name).is_dir():
        folder = Path(name).resolve()
        try:
            AutoConfig.from_pretrained(folder)
            AutoTokenizer.from_pretrained(folder)
        except (OSError, ValueError) as err:
            raise ValueError(f"{folder}: not a Hugging Face model folder (config.json and "
                             f"tokenizer files): {str(err).splitlines()[0]}") from None
        return str(folder), f"local:{folder}"
    online = hub_reachable()
    try:
        AutoTokenizer.from_pretrained(name, local_files_only=not online)
        return name, f"hub:{name}"
    except OSError as err:
        if online:  # the Hub answered: a wrong name, not a missing network
            raise ValueError(f"model {name!r} could not be loaded: {err}") from None
    print(f"WARNING: model {name!r} is neither a local directory nor reachable on the Hugging "
          f"Face Hub, so training uses a tiny randomly initialised BERT built in {fallback_dir} "
          f"(it learns little). Pass --model DIR with a downloaded model for real results.",
          flush=True)
    return build_tiny_model(fallback_dir, sentences), "fallback:tiny-bert"


def classification_metrics(prefix: str) -> torchmetrics.MetricCollection:
    return torchmetrics.MetricCollection({
        "acc": torchmetrics.Accuracy(task="binary"),
        "f1": torchmetrics.F1Score(task="binary"),
        "mcc": torchmetrics.MatthewsCorrCoef(task="binary"),
        "precision": torchmetrics.Precision(task="binary"),
        "recall": torchmetrics.Recall(task="binary"),
    }, prefix=prefix)


def layer_depth(name: str) -> int | None:
    """0 for an embedding weight, i + 1 for one of encoder layer i, None for the head's."""
    if ".embeddings." in name:
        return 0
    layer = re.search(r"\.layer\.(\d+)\.", name)
    return int(layer.group(1)) + 1 if layer else None


def tokenizer_files(tokenizer: PreTrainedTokenizerBase) -> dict[str, str]:
    """The tokenizer as {file name: text}, to be stored inside a checkpoint."""
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        return {p.name: p.read_text(encoding="utf-8") for p in Path(tmp).iterdir()}


def tokenizer_from_files(files: dict[str, str]) -> PreTrainedTokenizerBase:
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            Path(tmp, name).write_text(text, encoding="utf-8")
        return AutoTokenizer.from_pretrained(tmp)


class ColaModel(pl.LightningModule):
    def __init__(self, model_name: str = DEFAULT_MODEL, lr: float = 3e-5,
                 weight_decay: float = 0.01, warmup_ratio: float = 0.1,
                 max_length: int = MAX_LENGTH, data_source: str = "", model_source: str = "",
                 pooling: str = "pooler", head_lr_factor: float = 1.0, layer_decay: float = 1.0,
                 model_config: dict | None = None) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, not {pooling!r}")
        if head_lr_factor <= 0 or not 0 < layer_decay <= 1:
            raise ValueError("head_lr_factor must be positive and layer_decay in (0, 1]")
        self.save_hyperparameters(ignore=["model_config"])  # stored in every checkpoint
        if model_config is None:  # a new model: the pretrained weights and tokenizer
            self.model = AutoModelForSequenceClassification.from_pretrained(
                model_name, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
                label2id={label: i for i, label in enumerate(LABELS)})
            self.tokenizer = AutoTokenizer.from_pretrained(model_name)
        else:  # loading a checkpoint: its own architecture; weights and tokenizer follow
            self.model = AutoModelForSequenceClassification.from_config(
                AutoConfig.for_model(**model_config))
            self.tokenizer = None
        self.hparams["model_config"] = self.model.config.to_dict()  # saved, not logged
        # from_pretrained returns eval mode and Lightning keeps submodule modes: without this,
        # dropout would stay off during fine-tuning.
        self.model.train()
        self.train_metrics = classification_metrics("train/")
        self.val_metrics = classification_metrics("val/")
        self.val_outputs: list[dict[str, torch.Tensor]] = []  # read by the W&B callbacks

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask,
                  "token_type_ids": token_type_ids}
        if self.hparams.pooling == "pooler":
            return self.model(**inputs).logits
        tokens = self.model.base_model(**inputs).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)  # padding counts for nothing
        mean = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.model.classifier(self.model.dropout(mean))

    def _step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(**{k: v for k, v in batch.items() if k != "labels"})
        return F.cross_entropy(logits, batch["labels"]), logits

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, logits = self._step(batch)
        preds = logits.argmax(dim=-1)
        self.train_metrics.update(preds, batch["labels"])
        self.log("train/loss", loss, prog_bar=True)
        self.log_dict(self.train_metrics, on_step=False, on_epoch=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        self.val_outputs.clear()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, logits = self._step(batch)
        preds = logits.argmax(dim=-1)
        self.val_metrics.update(preds, batch["labels"])
        self.val_outputs.append({"labels": batch["labels"].detach().cpu(),
                                 "probs": torch.softmax(logits, dim=-1).detach().cpu()})
        self.log("val/loss", loss, prog_bar=True)
        self.log_dict(self.val_metrics, prog_bar=True)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["tokenizer"] = tokenizer_files(self.tokenizer)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.tokenizer = tokenizer_from_files(checkpoint["tokenizer"])

    def parameter_groups(self) -> list[dict]:
        """AdamW's groups. The head (the new classifier and the pooler it may read) learns at
        lr * head_lr_factor; encoder layer i at lr * layer_decay ** (layers - i), so the lowest
        layers, which hold the most general knowledge, change least. Biases and LayerNorm
        weights get no weight decay."""
        hp, layers = self.hparams, self.model.config.num_hidden_layers
        groups: dict[tuple[float, float], list[torch.nn.Parameter]] = {}
        for name, param in self.model.named_parameters():
            depth = layer_depth(name)
            lr = hp.lr * (hp.head_lr_factor if depth is None
                          else hp.layer_decay ** (layers + 1 - depth))
            decay = 0.0 if name.endswith(("bias", "LayerNorm.weight")) else hp.weight_decay
            groups.setdefault((lr, decay), []).append(param)
        return [{"params": params, "lr": lr, "weight_decay": decay}
                for (lr, decay), params in groups.items()]

    def configure_optimizers(self) -> dict:
        optimizer = torch.optim.AdamW(self.parameter_groups(), lr=self.hparams.lr)
        total = self.trainer.estimated_stepping_batches
        scheduler = get_linear_schedule_with_warmup(
            optimizer, int(self.hparams.warmup_ratio * total), total)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
