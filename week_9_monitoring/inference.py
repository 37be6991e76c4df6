"""ColaPredictor: load a trained checkpoint and label sentences as acceptable or not.

    python inference.py "The boy is sleeping." "The boy sleeping is."
    python inference.py "The boy is sleeping." --set output_dir=multirun/2024-01-01_00-00-00/job0

The checkpoint is the one configs/config.yaml names (`checkpoint`), as training wrote it.
"""

import argparse
import sys
from pathlib import Path

import torch

from config_schema import CONFIG_ERRORS, add_override_option, load_config
from model import ColaModel
from prediction import check_texts, print_predictions, to_prediction


class ColaPredictor:
    def __init__(self, checkpoint_path: str | Path) -> None:
        path = Path(checkpoint_path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path} (train a model first: "
                                    f"python train.py)")
        try:
            self.model = ColaModel.load_from_checkpoint(path, map_location="cpu")
        except Exception as err:  # a truncated or foreign file fails in many different ways
            raise ValueError(f"{path}: not a readable ColaModel checkpoint "
                             f"({type(err).__name__}: {str(err)[:200]})") from None
        self.model.eval()
        self.tokenizer = self.model.tokenizer  # both from the checkpoint: it loads alone
        self.max_length = self.model.hparams.max_length

    @torch.inference_mode()
    def predict(self, text: str | list[str]) -> dict | list[dict]:
        """Label one sentence (returns a dict) or a list of them (returns a list of dicts)."""
        texts = check_texts(text)
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        probs = torch.softmax(self.model(**batch), dim=-1)
        results = [to_prediction(p.tolist()) for p in probs]
        return results[0] if isinstance(text, str) else results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Label sentences with a trained CoLA model.")
    parser.add_argument("sentences", nargs="+")
    parser.add_argument("--checkpoint", help="default: the config's `checkpoint`")
    add_override_option(parser)
    args = parser.parse_args(argv)
    try:
        checkpoint = args.checkpoint or load_config(*args.set).checkpoint
        predictions = ColaPredictor(checkpoint).predict(args.sentences)
    except (FileNotFoundError, ValueError, *CONFIG_ERRORS) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_predictions(args.sentences, predictions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
