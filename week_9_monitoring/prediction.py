"""What a prediction looks like. Every predictor (PyTorch now; ONNX, the web service and the
Lambda handler later) checks its input and shapes its output here, so any two of them can be
compared directly. Deliberately light: no torch, no transformers."""

from collections.abc import Sequence

LABELS = ("unacceptable", "acceptable")  # index = CoLA label


def check_texts(text: object) -> list[str]:
    """One sentence or a non-empty list of them, as a list; a ValueError for anything else."""
    texts = [text] if isinstance(text, str) else text
    if not isinstance(texts, list) or not texts:
        raise ValueError("expected a sentence or a non-empty list of sentences")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"text {i}: expected a non-empty string, got {t!r}")
        if not is_utf8(t):  # JSON can carry "\ud800", which no tokenizer can encode
            raise ValueError(f"text {i}: not valid Unicode (a lone surrogate code point)")
    return texts


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def print_predictions(sentences: list[str], predictions: list[dict]) -> None:
    """What the command lines print: one line per sentence, label, score, sentence."""
    for sentence, pred in zip(sentences, predictions, strict=True):
        print(f"{pred['label']:>12}  {pred['score']:.3f}  {sentence}")


def to_prediction(probabilities: Sequence[float]) -> dict:
    """Class probabilities -> {"label": ..., "score": probability of that label}."""
    best = max(range(len(LABELS)), key=lambda i: probabilities[i])
    return {"label": LABELS[best], "score": float(probabilities[best])}
