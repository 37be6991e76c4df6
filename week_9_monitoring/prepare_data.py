"""Pipeline stage 1: get CoLA (from data.path, $COLA_DATA_DIR, the Hub or the sample, as
training would), validate it, and write it to data/cola/ as GLUE-format TSVs for DVC to track.

    python prepare_data.py                       # the configured source
    python prepare_data.py data.path=/path/to/cola
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

import config_schema  # noqa: F401  (registers the config's types)
from data import SPLIT_FILES, DataError, load_cola

OUT_DIR = Path("data/cola")


def prepare(source: str | None, out_dir: Path = OUT_DIR) -> dict[str, int]:
    splits, origin = load_cola(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = {}
    for split, name in SPLIT_FILES.items():
        lines = [f"cola\t{label}\t{'' if label else '*'}\t{sentence}\n"
                 for sentence, label in zip(splits[split]["sentence"][:], splits[split]["label"][:],
                                            strict=True)]
        (out_dir / name).write_text("".join(lines), encoding="utf-8")
        rows[split] = len(lines)
    print(f"prepared {origin}: " + ", ".join(f"{n} {s} rows" for s, n in rows.items())
          + f" -> {out_dir}")
    return rows


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def main(cfg: DictConfig) -> None:
    try:
        prepare(cfg.data.path)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
