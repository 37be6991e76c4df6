"""Compare PyTorch eager, ONNX Runtime fp32 and ONNX Runtime int8 on the same sentences, with
the same number of threads, and print a Markdown table.

    python benchmark.py                           # the configured checkpoint, ONNX files, data
    python benchmark.py --threads 1 --single 100 --set data.path=/path/to/cola
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig

from config_schema import CONFIG_ERRORS, add_override_option, load_config
from data import SPLIT_FILES, DataError, load_cola, read_cola_tsv
from evaluate import score
from inference import ColaPredictor
from inference_onnx import ColaONNXPredictor


def latency_ms(predict: Callable, sentences: list[str]) -> tuple[float, float]:
    times = []
    for sentence in sentences:
        start = time.perf_counter()
        predict([sentence])
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))]


def throughput(predict: Callable, sentences: list[str], batch: int = 32) -> float:
    start = time.perf_counter()
    for i in range(0, len(sentences), batch):
        predict(sentences[i:i + batch])
    return len(sentences) / (time.perf_counter() - start)


def measure(predict: Callable, size_mb: float, sentences: list[str], labels: list[int],
            single: int) -> dict[str, float]:
    """One backend's row: latency one sentence at a time, batch throughput, size, quality."""
    predict(sentences[:32])  # warm-up
    p50, p99 = latency_ms(predict, sentences[:single])
    quality = score(predict, sentences, labels)
    return {"p50_ms": p50, "p99_ms": p99, "batch32_per_s": throughput(predict, sentences[:320]),
            "size_mb": size_mb, "accuracy": quality["accuracy"], "mcc": quality["mcc"]}


def load_backends(cfg: DictConfig, threads: int) -> tuple[dict, list[str], list[int]]:
    """The validation sentences and the three predictors, or one clear error."""
    if cfg.data.path:
        validation = read_cola_tsv(Path(cfg.data.path) / SPLIT_FILES["validation"])
    else:
        validation = load_cola(None)[0]["validation"]
    pytorch = ColaPredictor(cfg.checkpoint)
    params_mb = sum(p.numel() * p.element_size() for p in pytorch.model.parameters()) / 2**20
    backends = {
        "PyTorch eager (fp32)": (pytorch.predict, params_mb),
        "ONNX Runtime fp32": (ColaONNXPredictor(cfg.onnx.model, threads).predict,
                              Path(cfg.onnx.model).stat().st_size / 2**20),
        "ONNX Runtime int8": (ColaONNXPredictor(cfg.onnx.quantized, threads).predict,
                              Path(cfg.onnx.quantized).stat().st_size / 2**20),
    }
    return backends, validation["sentence"][:], validation["label"][:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--single", type=int, default=300, help="sentences timed one by one")
    add_override_option(parser)
    args = parser.parse_args(argv)
    if args.threads < 1 or args.single < 1:
        parser.error("--threads and --single must be at least 1")
    torch.set_num_threads(args.threads)
    try:
        backends, sentences, labels = load_backends(load_config(*args.set), args.threads)
    except (FileNotFoundError, ValueError, DataError, *CONFIG_ERRORS) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(sentences)} validation sentences, {args.threads} threads, "
          f"{args.single} single-sentence calls per backend\n")
    print("| backend | 1 sentence p50 (ms) | p99 (ms) | batch 32 (sentences/s) | size (MB) "
          "| accuracy | MCC |")
    print("|---|---|---|---|---|---|---|")
    for name, (predict, size) in backends.items():
        row = measure(predict, size, sentences, labels, args.single)
        print(f"| {name} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
              f"{row['batch32_per_s']:.0f} | {row['size_mb']:.1f} | {row['accuracy']:.3f} "
              f"| {row['mcc']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
