"""ColaONNXPredictor: the exported model with ONNX Runtime and the tokenizers library only:
no torch, no Lightning, no transformers, so it fits a small serving image.

    python inference_onnx.py "The boy is sleeping." "The boy sleeping is."    # the config's model
    python inference_onnx.py --model outputs/onnx/model.onnx "The boy is sleeping."   # fp32

The model file is the whole bundle: the graph, and in its metadata the tokenizer, the label
names and max_length (written by convert_model_to_onnx.py).
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from prediction import LABELS, check_texts, print_predictions, to_prediction


class ColaONNXPredictor:
    def __init__(self, model_path: str | Path, threads: int = 0) -> None:
        """`threads`: ONNX Runtime's intra-op threads; 0 lets it choose (one per core)."""
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (export a model first: "
                                    f"python convert_model_to_onnx.py)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as err:  # ONNX Runtime reports corrupt files with several types
            raise ValueError(f"{path}: not a loadable ONNX model ({str(err)[:200]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        missing = {"labels", "max_length", "tokenizer"} - set(meta)
        if missing:
            raise ValueError(f"{path}: no {', '.join(sorted(missing))} in its metadata (export "
                             f"it with python convert_model_to_onnx.py)")
        if tuple(meta["labels"].split(",")) != LABELS:
            raise ValueError(f"{path}: labels {meta['labels']!r}, this code expects {LABELS}")
        try:
            self.tokenizer = Tokenizer.from_str(meta["tokenizer"])
            self.max_length = int(meta["max_length"])
        except Exception as err:  # the tokenizers library raises its own exception type
            raise ValueError(f"{path}: unreadable tokenizer or max_length in its metadata "
                             f"({str(err)[:200]})") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.enable_padding()  # to the longest sentence of each batch

    def predict(self, text: str | list[str]) -> dict | list[dict]:
        """Label one sentence (returns a dict) or a list of them (returns a list of dicts)."""
        texts = check_texts(text)
        encodings = self.tokenizer.encode_batch(texts)
        features = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        logits = self.session.run(None, {n: features[n] for n in self.input_names})[0]
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = exp / exp.sum(axis=1, keepdims=True)
        results = [to_prediction(p.tolist()) for p in probs]
        return results[0] if isinstance(text, str) else results


def main(argv: list[str] | None = None) -> int:
    # the config (Hydra) is read here, not at import: the serving image has no config files
    from config_schema import CONFIG_ERRORS, add_override_option, load_config

    parser = argparse.ArgumentParser(description="Label sentences with the exported ONNX model.")
    parser.add_argument("sentences", nargs="+")
    parser.add_argument("--model", help="default: the config's `onnx.quantized` (int8)")
    add_override_option(parser)
    args = parser.parse_args(argv)
    try:
        model = args.model or load_config(*args.set).onnx.quantized
        predictions = ColaONNXPredictor(model).predict(args.sentences)
    except (FileNotFoundError, ValueError, *CONFIG_ERRORS) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_predictions(args.sentences, predictions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
