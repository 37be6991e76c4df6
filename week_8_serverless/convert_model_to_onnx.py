"""Export the trained checkpoint to ONNX, check it, prove it matches PyTorch, quantize it.

    python convert_model_to_onnx.py                       # the configured checkpoint
    python convert_model_to_onnx.py output_dir=multirun/<time>/job1

Writes to the config's onnx.dir: model.onnx (fp32, batch and sequence length dynamic) and
model.int8.onnx (int8 weights), both with their transformer blocks fused into ONNX Runtime's
own operators (attention, skip-LayerNorm, bias-GELU): fewer, faster nodes. Each file is a
bundle: its metadata holds the tokenizer, the label names and max_length, everything the ONNX
predictor needs besides the file itself.
"""

import logging
import sys
from pathlib import Path

import hydra
import numpy as np
import onnx
import onnx_ir as ir
import onnxruntime as ort
import torch
from omegaconf import DictConfig
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxscript.rewriter.ort_fusions import optimize_for_ort

import config_schema  # noqa: F401  (registers the config's types)
from inference import ColaPredictor
from model import ColaModel
from prediction import LABELS

# Sentences of different lengths, for the parity check in batches of 1, 2 and 5.
PARITY_SENTENCES = [
    "The cat sat.", "Who do you think that left?", "The more we study verbs, the crazier they get.",
    "John", "She gave the book that her sister had recommended to the student who asked for it.",
    "Himself likes John.", "The boat floated down the river sank.", "I wonder what Mary said.",
]


class LogitsOnly(torch.nn.Module):
    """ColaModel.forward (the head's pooling included) as a plain module: what ONNX records."""

    def __init__(self, model: ColaModel) -> None:
        super().__init__()
        self.cola = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> torch.Tensor:
        return self.cola(input_ids, attention_mask, token_type_ids)


def export(predictor: ColaPredictor, path: Path, opset: int) -> None:
    module = LogitsOnly(predictor.model).eval()
    sample = predictor.tokenizer(["a short one", "and a slightly longer sentence"],
                                 padding=True, truncation=True,
                                 max_length=predictor.max_length, return_tensors="pt")
    inputs = (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"])
    batch = torch.export.Dim("batch")
    sequence = torch.export.Dim("sequence", max=predictor.max_length)
    dims = {0: batch, 1: sequence}
    program = torch.onnx.export(
        module, inputs, dynamo=True, opset_version=opset,
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
        dynamic_shapes={"input_ids": dims, "attention_mask": dims, "token_type_ids": dims},
    )
    program.save(str(path), external_data=False)  # one self-contained file
    add_bundle_metadata(path, predictor)
    onnx.checker.check_model(str(path), full_check=True)


def add_bundle_metadata(path: Path, predictor: ColaPredictor) -> None:
    """What serving needs besides the graph, inside the file: tokenizer, labels, max_length."""
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {
        "labels": ",".join(LABELS), "max_length": str(predictor.max_length),
        "tokenizer": predictor.tokenizer.backend_tokenizer.to_str()})
    onnx.save(model, str(path))


def max_difference(predictor: ColaPredictor, path: Path) -> float:
    """Largest |ONNX - PyTorch| logit difference over several batch sizes and lengths."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for size in (1, 2, 5):
        for start in range(0, len(PARITY_SENTENCES), size):
            batch = predictor.tokenizer(PARITY_SENTENCES[start:start + size], padding=True,
                                        truncation=True, max_length=predictor.max_length,
                                        return_tensors="pt")
            with torch.inference_mode():
                expected = predictor.model(**batch).numpy()
            got = session.run(["logits"], {k: v.numpy() for k, v in batch.items()})[0]
            worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def fuse(path: Path) -> dict[str, int]:
    """Fuse attention, skip-LayerNorm and bias-GELU subgraphs into ONNX Runtime's own fused
    operators, in place (the file then runs on ONNX Runtime only; its metadata is kept)."""
    model, counts = optimize_for_ort(ir.load(str(path)))
    ir.save(model, str(path))  # one self-contained file
    return {name: n for name, n in counts.items() if n}


def convert(checkpoint: str, onnx_path: str, quantized_path: str, opset: int = 18,
            tolerance: float = 1e-4) -> dict[str, float]:
    predictor = ColaPredictor(checkpoint)
    onnx_file, int8_file = Path(onnx_path), Path(quantized_path)
    onnx_file.parent.mkdir(parents=True, exist_ok=True)
    export(predictor, onnx_file, opset)
    # quantize before fusing: the quantizer leaves a fused Attention's weights in fp32
    quantize_dynamic(onnx_file, int8_file, weight_type=QuantType.QInt8)
    fused = {f.name: fuse(f) for f in (onnx_file, int8_file)}
    difference = max_difference(predictor, onnx_file)  # the file that ships, fused
    if difference > tolerance:
        onnx_file.unlink()
        int8_file.unlink()
        raise ValueError(f"ONNX output differs from PyTorch by {difference:.2e} "
                         f"(> tolerance {tolerance:g}); the export was removed")
    sizes = {f.name: f.stat().st_size / 2**20 for f in (onnx_file, int8_file)}
    print(f"exported {onnx_file} ({sizes[onnx_file.name]:.1f} MB), max |ONNX - PyTorch| = "
          f"{difference:.2e} (tolerance {tolerance:g}); int8: {int8_file} "
          f"({sizes[int8_file.name]:.1f} MB); fused: {fused[onnx_file.name]}")
    return {"max_difference": difference, "fused": fused[onnx_file.name], **sizes}


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def main(cfg: DictConfig) -> None:
    # the quantizer logs every tensor at INFO, and suggests a pre-processing step whose shape
    # inference does not support this exported graph
    logging.getLogger().setLevel(logging.ERROR)
    try:
        convert(cfg.checkpoint, cfg.onnx.model, cfg.onnx.quantized, cfg.onnx.opset,
                cfg.onnx.tolerance)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
