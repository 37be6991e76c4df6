"""dvc.yaml misses nothing a stage reads: every local module its script imports (directly or
through other modules) is a dep, and every config value it reads is a tracked param."""

import ast

import pytest
import yaml

from helpers import WEEK_DIR

STAGES = yaml.safe_load((WEEK_DIR / "dvc.yaml").read_text())["stages"]
GROUPS = {p.name for p in (WEEK_DIR / "configs").iterdir() if p.is_dir()} - {"hparams_search"}
ROOT_CONFIG = "configs/config.yaml"


def source(module: str) -> str:
    """The file of a module of this folder: `data` -> data.py, `monitoring.drift` ->
    monitoring/drift.py."""
    return module.replace(".", "/") + ".py"


def local_imports(module: str, seen: set[str] | None = None) -> set[str]:
    """`module` and every module of this folder it imports, transitively."""
    seen = set() if seen is None else seen
    seen.add(module)
    tree = ast.parse((WEEK_DIR / source(module)).read_text())
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                 if isinstance(node, ast.ImportFrom) and node.module else [])
        for name in names:
            if (WEEK_DIR / source(name)).is_file() and name not in seen:
                local_imports(name, seen)
    return seen


def reads_of(tree: ast.AST, name: str = "cfg") -> set[str]:
    """The config keys read as `<name>.<key>` or `<name>.<key>.<sub>` in this code, dotted."""
    keys, inner = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                and isinstance(node.value.value, ast.Name) and node.value.value.id == name:
            keys.add(f"{node.value.attr}.{node.attr}")
            inner.add(id(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == name and id(node) not in inner:
            keys.add(node.attr)
    return keys


def config_reads(module: str) -> set[str]:
    """The config keys a script reads: itself, and the local functions it hands `cfg` to."""
    tree = ast.parse((WEEK_DIR / source(module)).read_text())
    keys = reads_of(tree)
    origin = {a.asname or a.name: node.module for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) for a in node.names}
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        passes_cfg = any(isinstance(a, ast.Name) and a.id == "cfg" for a in call.args)
        name = call.func.id if isinstance(call.func, ast.Name) else None
        if passes_cfg and name in origin and (WEEK_DIR / source(origin[name])).is_file():
            other = ast.parse((WEEK_DIR / source(origin[name])).read_text())
            for func in (n for n in ast.walk(other) if isinstance(n, ast.FunctionDef)):
                if func.name == name and func.args.args:
                    keys |= reads_of(func, func.args.args[0].arg)
    return keys


def script(stage: dict) -> str:
    """The stage's module: `python train.py ...` or `python -m monitoring.reference ...`."""
    words = stage["cmd"].split()
    return words[2] if words[1] == "-m" else words[1].removesuffix(".py")


def overrides(stage: dict) -> list[str]:
    """The config overrides on the stage's command line (a Hydra app's, or --set KEY=VALUE)."""
    words = stage["cmd"].split()
    return [w for w in words[3 if words[1] == "-m" else 2:] if w != "--set"]


def tracked_params(stage: dict) -> dict[str, list[str] | None]:
    """{file: keys or None for the whole file}."""
    tracked = {}
    for entry in stage.get("params", []):
        for file, keys in (entry.items() if isinstance(entry, dict) else [(entry, None)]):
            tracked[file] = keys
    return tracked


@pytest.mark.parametrize("name", list(STAGES))
def test_every_imported_local_module_is_a_dep(name: str) -> None:
    stage = STAGES[name]
    needed = {source(m) for m in local_imports(script(stage))}
    missing = needed - set(stage["deps"])
    assert not missing, f"{name}: missing deps {sorted(missing)}"


@pytest.mark.parametrize("name", list(STAGES))
def test_every_config_value_a_stage_reads_is_tracked(name: str) -> None:
    stage = STAGES[name]
    overridden = {arg.split("=")[0].split(".")[0] for arg in overrides(stage)}
    tracked = tracked_params(stage)
    reads = config_reads(script(stage))
    for key in sorted(k for k in reads if k.split(".")[0] not in overridden | {"output_dir"}):
        top, _, sub = key.partition(".")
        if top in GROUPS:  # a group: the choice of option, and what is read from its file
            assert "defaults" in (tracked.get(ROOT_CONFIG) or []), f"{name}: choice of {top}"
            files = [f for f in tracked if f.startswith(f"configs/{top}/")]
            assert files, f"{name}: nothing of group {top} is tracked"
            for file in files:  # the whole file, or at least the key read
                assert tracked[file] is None or sub in tracked[file], f"{name}: {key}"
        else:  # a value of the root config: tracked itself, or the section holding it
            keys = tracked.get(ROOT_CONFIG) or []
            assert any(k == key or key.startswith(f"{k}.") for k in keys), f"{name}: {key}"


def test_the_checker_sees_transitive_imports_and_config_reads() -> None:
    assert {"train", "model", "data", "offline", "prediction", "config_schema"} <= local_imports(
        "train")
    assert {"data.path"} == config_reads("prepare_data")
    assert {"seed", "model.name", "training.lr", "logger.wandb"} <= config_reads("train")


def test_the_checker_reads_a_package_module_run_with_dash_m() -> None:
    assert {"monitoring.reference", "monitoring.drift", "monitoring.prediction_log", "data",
            "inference_onnx"} <= local_imports("monitoring.reference")
    assert {"onnx.quantized", "data.path", "monitoring.reference"} <= config_reads(
        "monitoring.reference")
    assert script({"cmd": "python -m monitoring.reference --set data.path=x"}) == \
        "monitoring.reference"
    assert overrides({"cmd": "python -m monitoring.reference --set data.path=x"}) == [
        "data.path=x"]
