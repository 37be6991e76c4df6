"""Prediction events built from a small word-level tokenizer: the fields of each event, the
sentence's token counts without padding or truncation, one JSON line per event written at
once, and a warning (only one) when the events cannot be written."""

import json
import sys
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
import time_machine
from tokenizers import Tokenizer
from tokenizers.models import Unigram, WordLevel
from tokenizers.pre_tokenizers import Whitespace
from tokenizers.processors import TemplateProcessing

from monitoring.prediction_log import EVENT, PredictionLog, timestamp
from monitoring.shipper import read_events

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "a", "mat", "."]
NOW = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def tokenizer() -> Tokenizer:
    """Set up as the service's: [CLS] and [SEP] around each sentence, batches padded to their
    longest sentence, and sentences cut at 6 tokens."""
    tok = Tokenizer(WordLevel({word: i for i, word in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    tok.post_processor = TemplateProcessing(single="[CLS] $A [SEP]",
                                            special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    tok.enable_truncation(max_length=6)
    return tok


def prediction(label: str, score: float) -> dict:
    return {"label": label, "score": score}


def test_an_instant_is_written_in_utc_with_milliseconds(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")  # the machine's zone plays no part
    time.tzset()
    try:
        paris = timezone(timedelta(hours=1))
        assert timestamp(datetime(2026, 11, 27, 11, 0, 0, 123456, tzinfo=paris)) == \
            "2026-11-27T10:00:00.123Z"
        assert timestamp(datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC)) == \
            "2026-11-27T23:59:59.000Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_each_sentence_of_a_request_is_one_event(tokenizer) -> None:
    log = PredictionLog(tokenizer, "ab" * 32, "3", "fastapi")
    texts = ["the cat sat", "a mat ."]
    with time_machine.travel(NOW, tick=False):
        events = log.events("req-1", texts, [prediction("acceptable", 0.9123456789),
                                             prediction("unacceptable", 0.25)], 12.34567)
    call = events[0]["event_id"].removesuffix("-0")
    assert len(call) == 32 and int(call, 16) >= 0  # a new hex id per call
    assert events == [
        {"event": "prediction", "@timestamp": "2026-11-27T10:00:00.123Z",
         "event_id": f"{call}-0", "request_id": "req-1", "source": "fastapi",
         "model_sha256": "ab" * 32, "model_version": "3", "text_chars": 11, "text_tokens": 3,
         "unk_share": 0.0, "label": "acceptable", "score": 0.912346, "latency_ms": 12.346,
         "batch_size": 2},
        {"event": "prediction", "@timestamp": "2026-11-27T10:00:00.123Z",
         "event_id": f"{call}-1", "request_id": "req-1", "source": "fastapi",
         "model_sha256": "ab" * 32, "model_version": "3", "text_chars": 7, "text_tokens": 3,
         "unk_share": 0.0, "label": "unacceptable", "score": 0.25, "latency_ms": 12.346,
         "batch_size": 2},
    ]


def test_every_call_gets_its_own_event_ids(tokenizer) -> None:
    log = PredictionLog(tokenizer, "ab" * 32, "3", "fastapi")
    first, second = (log.events("same", ["the cat"], [prediction("acceptable", 0.9)], 1.0)
                     for _ in range(2))
    assert first[0]["event_id"] != second[0]["event_id"]
    assert first[0]["request_id"] == second[0]["request_id"] == "same"


def test_tokens_are_counted_over_the_whole_sentence_without_special_tokens(tokenizer) -> None:
    log = PredictionLog(tokenizer, "ab" * 32, "3", "fastapi")
    # 7 words: longer than the cut at 6, and padded in the batch with the short one
    long, short = "the cat sat on a mat .", "the"
    events = log.events("r", [short, long], [prediction("acceptable", 0.5)] * 2, 1.0)
    assert [e["text_tokens"] for e in events] == [1, 7]
    # the service's own tokenizer keeps cutting and padding
    assert tokenizer.truncation["max_length"] == 6 and tokenizer.padding is not None


def test_the_share_of_unknown_words_is_rounded_to_four_places(tokenizer) -> None:
    log = PredictionLog(tokenizer, "ab" * 32, "3", "fastapi")
    texts = ["the dog sat", "zebra yak", "the cat", ""]
    events = log.events("r", texts, [prediction("acceptable", 0.5)] * 4, 1.0)
    assert [e["unk_share"] for e in events] == [0.3333, 1.0, 0.0, 0.0]
    assert [e["text_tokens"] for e in events] == [3, 2, 2, 0]


def test_a_tokenizer_that_names_no_unknown_token_still_gives_events() -> None:
    tok = Tokenizer(Unigram([("[UNK]", 0.0), ("the", -1.0), ("cat", -1.0)], unk_id=0))
    tok.pre_tokenizer = Whitespace()
    events = PredictionLog(tok, "ab" * 32, "3", "lambda").events(
        "r", ["the dog"], [prediction("acceptable", 0.5)], 1.0)
    assert (events[0]["text_tokens"], events[0]["unk_share"]) == (2, 0.0)


def test_the_sentence_is_in_the_event_only_when_allowed(tokenizer) -> None:
    args = ("r", ["the cat"], [prediction("acceptable", 0.5)], 1.0)
    assert "text" not in PredictionLog(tokenizer, "ab" * 32, "3", "fastapi").events(*args)[0]
    with_text = PredictionLog(tokenizer, "ab" * 32, "3", "fastapi", log_text=True)
    assert with_text.events(*args)[0]["text"] == "the cat"


class Recorder:
    """Stands for stdout: what is written, and when it is flushed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def write(self, text: str) -> int:
        self.calls.append(("write", text))
        return len(text)

    def flush(self) -> None:
        self.calls.append(("flush", ""))


def test_each_event_is_one_write_of_one_ascii_json_line(tokenizer, monkeypatch) -> None:
    """One write and flush per line: server processes sharing a pipe never split a line."""
    out = Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    log = PredictionLog(tokenizer, "ab" * 32, "3", "fastapi", log_text=True)
    log.record("req-7", ["the café", "the cat"], [prediction("acceptable", 0.5)] * 2, 1.0)
    monkeypatch.undo()
    assert [kind for kind, _ in out.calls] == ["write", "flush", "write", "flush"]
    lines = [text for kind, text in out.calls if kind == "write"]
    assert all(line.isascii() and line.count("\n") == 1 and line.endswith("\n")
               for line in lines)
    text = "".join(lines)
    events = [json.loads(line) for line in text.splitlines()]
    assert [e["text"] for e in events] == ["the café", "the cat"]
    assert [(e["event"], e["request_id"]) for e in events] == [(EVENT, "req-7")] * 2
    assert list(read_events(text.splitlines())) == events  # what the shipper reads


class Broken:
    def write(self, _: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        pass


def test_events_that_cannot_be_written_give_one_warning_and_no_error(tokenizer, monkeypatch,
                                                                     capsys) -> None:
    log = PredictionLog(tokenizer, "ab" * 32, "3", "fastapi")
    monkeypatch.setattr(sys, "stdout", Broken())
    for _ in range(3):
        log.record("r", ["the cat"], [prediction("acceptable", 0.5)], 1.0)
    monkeypatch.undo()
    assert capsys.readouterr().err.splitlines() == [
        "warning: prediction events are not being written (OSError: [Errno 28] No space left "
        "on device)"]


def test_an_event_that_cannot_be_built_writes_nothing(tokenizer, capsys) -> None:
    log = PredictionLog(tokenizer, "ab" * 32, "3", "fastapi")
    log.record("r", ["the", "cat"], [prediction("acceptable", 0.5)], 1.0)  # one too few
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("warning: prediction events are not being written (IndexError: "
                            "list index out of range)\n")
