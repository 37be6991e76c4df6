"""The data module: where CoLA comes from, how it is validated, how batches are padded."""

from pathlib import Path

import pytest

import data
from data import ColaDataModule, DataError, load_cola, load_local_cola, read_cola_tsv
from helpers import SHARED_COLA, toy_rows, write_tsv


def test_local_splits_load_with_their_rows(toy_data_dir: Path) -> None:
    splits = load_local_cola(toy_data_dir)
    assert splits["train"].num_rows == 160 and splits["validation"].num_rows == 40
    assert splits["train"].column_names == ["sentence", "label"]
    assert set(splits["train"]["label"][:]) == {0, 1}


def test_cola_data_dir_env_var_selects_local_data(toy_data_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLA_DATA_DIR", str(toy_data_dir))
    splits, source = load_cola()
    assert source == f"local:{toy_data_dir.resolve()}"
    assert splits["train"].num_rows == 160


def test_unreachable_hub_falls_back_to_the_sample_loudly(capsys) -> None:
    splits, source = load_cola()
    assert source == "sample:sample_data"
    assert "WARNING" in capsys.readouterr().out
    labels = splits["train"]["label"][:]
    assert splits["train"].num_rows >= 300 and 0 in labels and 1 in labels


def test_batches_are_padded_to_their_longest_sentence(toy_data_dir: Path,
                                                     tiny_model_dir: str) -> None:
    dm = ColaDataModule(load_local_cola(toy_data_dir), tiny_model_dir, batch_size=8)
    dm.setup()
    widths = set()
    for batch in dm.val_dataloader():
        longest = int(batch["attention_mask"].sum(dim=1).max())
        assert batch["input_ids"].shape[1] == longest
        widths.add(longest)
    assert len(widths) > 1, "every batch had the same width: padding is not dynamic"
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels"}


@pytest.mark.parametrize("line, message", [
    ("toy\t2\t\tA sentence.\n", "row 2: label must be 0 or 1, got '2'"),
    ("toy\t1\t\t   \n", "row 2: empty sentence"),
    ("toy\t1\tA sentence.\n", "expected 4 tab-separated columns"),
])
def test_malformed_rows_name_the_file_and_row(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "train.tsv"
    path.write_text("toy\t1\t\tA good sentence.\n" + line, encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_cola_tsv(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_missing_split_file_is_reported(tmp_path: Path) -> None:
    write_tsv(tmp_path / "train.tsv", toy_rows(4, seed=0))
    with pytest.raises(DataError, match=r"validation\.tsv: file not found"):
        load_local_cola(tmp_path)


def test_an_overlong_field_is_reported(tmp_path: Path) -> None:
    (tmp_path / "train.tsv").write_text("toy\t1\t\t" + "x" * 200_000 + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train\.tsv: not a readable TSV file \(field larger"):
        read_cola_tsv(tmp_path / "train.tsv")


def test_a_hub_failure_is_one_data_error(monkeypatch) -> None:
    """The probe says the Hub is up, but the download fails (offline here): one DataError."""
    monkeypatch.setattr(data, "hub_reachable", lambda: True)
    with pytest.raises(DataError, match="could not load nyu-mll/glue/cola from the Hugging Face"):
        load_cola()


def test_binary_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "train.tsv").write_bytes(b"\xff\xfe\x00\x81garbage\n")
    with pytest.raises(DataError, match=r"train\.tsv: not a UTF-8"):
        read_cola_tsv(tmp_path / "train.tsv")


@pytest.mark.real_data
@pytest.mark.skipif(not SHARED_COLA.is_dir(), reason=f"real CoLA not found at {SHARED_COLA}")
def test_real_cola_has_the_glue_row_counts_and_balance() -> None:
    splits, _ = load_cola(SHARED_COLA)
    train, val = splits["train"]["label"][:], splits["validation"]["label"][:]
    assert (len(train), len(val)) == (8551, 1043)
    assert (sum(train), sum(val)) == (6023, 721)
