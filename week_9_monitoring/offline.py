"""What to use when the Hugging Face Hub cannot be reached.

The Hub is the default source of CoLA and of the pretrained model. Without it, training falls
back (loudly) to the sample in `sample_data/` and to a tiny BERT built from that data's words,
so the whole pipeline still runs end to end. The tiny model learns little: point `--data-dir`
and `--model` at real files for real results.
"""

import socket
from pathlib import Path
from urllib.parse import urlparse

import torch
from huggingface_hub import constants
from tokenizers.pre_tokenizers import BertPreTokenizer
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

SAMPLE_DATA_DIR = Path(__file__).resolve().parent / "sample_data"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick TCP connect instead of the libraries' slow retry loops (a minute or more)."""
    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def build_tiny_model(out_dir: str | Path, sentences: list[str], seed: int = 0) -> str:
    """Save a randomly initialised 2-layer BERT and a word-level tokenizer to `out_dir`."""
    out_dir = Path(out_dir)
    split = BertPreTokenizer().pre_tokenize_str
    words = sorted({word for s in sentences for word, _ in split(s.lower())})
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + words)}
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128, num_labels=2,
    )
    torch.manual_seed(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    BertForSequenceClassification(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return str(out_dir)
