"""CoLA as a LightningDataModule: load (Hub, local TSVs or the shipped sample), validate,
tokenize once, and pad each batch only to its longest sentence."""

import csv
import os
from pathlib import Path

import pytorch_lightning as pl
from datasets import Dataset, DatasetDict, load_dataset
from torch.utils.data import DataLoader
from transformers import AutoTokenizer, DataCollatorWithPadding

from offline import SAMPLE_DATA_DIR, hub_reachable
from prediction import LABELS  # noqa: F401  (re-exported: the label names live there)

HUB_DATASET = ("nyu-mll/glue", "cola")
SPLIT_FILES = {"train": "train.tsv", "validation": "validation.tsv"}
GLUE_COLUMNS = ["source", "label", "original_mark", "sentence"]
MAX_LENGTH = 128  # tokens; CoLA sentences are far shorter, this only guards odd input


class DataError(ValueError):
    """A data file or dataset that does not look like CoLA."""


def read_cola_tsv(path: str | Path) -> Dataset:
    """Read one GLUE-format CoLA file (no header, 4 tab-separated columns) and validate it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not a UTF-8 text file ({err.reason})") from None
    except csv.Error as err:  # e.g. a field over the csv module's size limit
        raise DataError(f"{path}: not a readable TSV file ({err})") from None
    for number, row in enumerate(rows, start=1):
        if len(row) != len(GLUE_COLUMNS):
            raise DataError(f"{path}: row {number}: expected {len(GLUE_COLUMNS)} tab-separated "
                            f"columns ({', '.join(GLUE_COLUMNS)}), found {len(row)}")
    sentences, labels = [row[3] for row in rows], [row[1] for row in rows]
    validate_rows(sentences, labels, str(path))
    return Dataset.from_dict({"sentence": sentences, "label": [int(x) for x in labels]})


def validate_rows(sentences: list, labels: list, where: str) -> None:
    if not sentences:
        raise DataError(f"{where}: no rows")
    for row, (sentence, label) in enumerate(zip(sentences, labels, strict=True), start=1):
        if str(label) not in ("0", "1"):
            raise DataError(f"{where}: row {row}: label must be 0 or 1, got {label!r}")
        if not isinstance(sentence, str) or not sentence.strip():
            raise DataError(f"{where}: row {row}: empty sentence")


def load_local_cola(data_dir: str | Path) -> DatasetDict:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: data directory not found")
    return DatasetDict({
        split: read_cola_tsv(data_dir / name)
        for split, name in SPLIT_FILES.items()
    })


def load_hub_cola() -> DatasetDict:
    try:
        raw = load_dataset(*HUB_DATASET)
    except Exception as err:  # network, cache and Hub errors come in many types
        raise DataError(f"could not load {'/'.join(HUB_DATASET)} from the Hugging Face Hub "
                        f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); pass a "
                        f"local folder instead") from None
    splits = DatasetDict({split: raw[split].select_columns(["sentence", "label"])
                          for split in SPLIT_FILES})
    for split, ds in splits.items():
        validate_rows(ds["sentence"][:], ds["label"][:], f"{'/'.join(HUB_DATASET)}[{split}]")
    return splits


def load_cola(data_dir: str | Path | None = None) -> tuple[DatasetDict, str]:
    """Return the train/validation splits and a description of where they came from.

    Order: `data_dir` (or $COLA_DATA_DIR) if set, else the Hub, else the shipped sample.
    """
    data_dir = data_dir or os.environ.get("COLA_DATA_DIR")
    if data_dir:
        return load_local_cola(data_dir), f"local:{Path(data_dir).resolve()}"
    if hub_reachable():
        return load_hub_cola(), f"hub:{'/'.join(HUB_DATASET)}"
    print(f"WARNING: the Hugging Face Hub is unreachable, so training uses the small sample in "
          f"{SAMPLE_DATA_DIR} (not CoLA). For real data set COLA_DATA_DIR (or the data path "
          f"option, see the README) to a folder with the GLUE train.tsv and validation.tsv.",
          flush=True)
    return load_local_cola(SAMPLE_DATA_DIR), "sample:sample_data"


class ColaDataModule(pl.LightningDataModule):
    def __init__(self, splits: DatasetDict, tokenizer_name: str, batch_size: int = 32,
                 max_length: int = MAX_LENGTH, num_workers: int = 0) -> None:
        super().__init__()
        self.splits = splits
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_name)
        self.batch_size = batch_size
        self.max_length = max_length
        self.num_workers = num_workers
        self.collate = DataCollatorWithPadding(self.tokenizer)  # pads to the batch's longest
        self.tokenized: DatasetDict | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.tokenized is not None:
            return
        self.tokenized = self.splits.map(
            lambda batch: self.tokenizer(batch["sentence"], truncation=True,
                                         max_length=self.max_length),
            batched=True, remove_columns=["sentence"],
        ).rename_column("label", "labels")

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        assert self.tokenized is not None, "call setup() first"
        return DataLoader(self.tokenized[split], batch_size=self.batch_size, shuffle=shuffle,
                          collate_fn=self.collate, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", shuffle=False)
