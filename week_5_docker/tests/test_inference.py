"""ColaPredictor and the inference CLI: output shape and clear errors for bad input."""

from pathlib import Path

import pytest

from inference import ColaPredictor, main


def test_one_sentence_gives_a_dict_and_a_list_gives_a_list(trained_run: dict) -> None:
    predictor = ColaPredictor(trained_run["checkpoint"])
    single = predictor.predict("The cat sat on a warm mat.")
    assert set(single) == {"label", "score"}
    assert single["label"] in ("acceptable", "unacceptable") and 0.5 <= single["score"] <= 1
    several = predictor.predict(["The cat slept.", "Green ideas sleep furiously."])
    assert [p["label"] for p in several] == ["acceptable", "unacceptable"]


@pytest.mark.parametrize("bad", ["", "   ", 42, None, [], ["ok", ""], ["ok", 3]])
def test_bad_input_is_rejected_with_a_clear_error(trained_run: dict, bad) -> None:
    with pytest.raises(ValueError, match="expected a"):
        ColaPredictor(trained_run["checkpoint"]).predict(bad)


def test_missing_checkpoint_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        ColaPredictor(tmp_path / "nope.ckpt")


def test_corrupt_checkpoint_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "best.ckpt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable ColaModel checkpoint"):
        ColaPredictor(path)


def test_cli_prints_predictions(trained_run: dict, capsys) -> None:
    assert main(["--checkpoint", trained_run["checkpoint"], "The cat slept well."]) == 0
    assert capsys.readouterr().out.split()[0] == "acceptable"


def test_cli_reports_a_missing_checkpoint_in_one_line(tmp_path: Path, capsys) -> None:
    assert main(["--checkpoint", str(tmp_path / "missing.ckpt"), "Hello."]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint not found") and err.count("\n") == 1
