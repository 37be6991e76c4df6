"""Re-measure the course's headline numbers in one run, side by side, so that ratios hold on a
noisy machine; print one Markdown table and write it as JSON under results/.

    python scripts/bench.py --quick          # seconds: tiny model, shipped sample, every row
    python scripts/bench.py data.path=/path/to/cola model.name=/path/to/all-MiniLM-L6-v2
    make bench [QUICK=1] [ARGS="data.path=... model.name=..."]

The full mode measures the latest week's trained model (its config's `checkpoint`; train it
first) with the data and model given as to training. Rows: training steps with dynamic padding
vs padding to 128; PyTorch eager vs ONNX Runtime fp32 and int8; the service under load at
several concurrency levels and a soak (errors, memory at start and end); in a container too,
with its image size and start-to-healthy time, when docker or podman is there; from week 8 on,
the Lambda image in its Runtime Interface Emulator: size, init duration, warm invokes; from week
9 on, week 5's service beside it (what writing prediction events costs), the shipper (events/s
into the local OpenSearch API) and the drift report (1,000 and 100,000 events). The last table
gives each figure that has a goal, the goal, and whether it was met.
"""

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from weekdiff import week_dirs  # noqa: E402

WEEK = next(path for path in reversed(week_dirs(ROOT).values()) if (path / "app.py").is_file())
# the service before monitoring: beside the latest week's, what writing prediction events costs
FIRST_SERVICE = next(path for path in week_dirs(ROOT).values() if (path / "app.py").is_file())
sys.path.insert(0, str(WEEK))
os.chdir(WEEK)  # the week's relative paths (configs, outputs) as its own commands see them

import datasets  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from benchmark import load_backends, measure  # noqa: E402
from config_schema import load_config  # noqa: E402
from convert_model_to_onnx import convert  # noqa: E402
from data import ColaDataModule, load_cola  # noqa: E402
from image_stats import free_port, image_size_mb, seconds_to_healthy  # noqa: E402
from load_test import run as load  # noqa: E402
from load_test import summarize  # noqa: E402
from model import ColaModel, resolve_model  # noqa: E402
from offline import SAMPLE_DATA_DIR, build_tiny_model  # noqa: E402
from train import train  # noqa: E402

QUICK = {"steps": 5, "single": 20, "seconds": 1.0, "soak": 3.0, "levels": (1, 4),
         "shipped": 2_000, "drift_events": (1_000, 10_000)}
FULL = {"steps": 30, "single": 300, "seconds": 10.0, "soak": 60.0, "levels": (1, 4, 8, 12, 16),
        "shipped": 20_000, "drift_events": (1_000, 100_000)}
# What the course aims for (issue-free targets a learner can check): a figure, its goal, and
# whether more or less is better. Rows without a measured figure are left out.
GOALS = [("int8 speed-up over PyTorch eager, 1 sentence p50", 5.0, "min"),
         ("service requests/s, best level with p99 <= 50 ms", 600.0, "min"),
         ("shipper events/s into the local OpenSearch API", 1_000.0, "min"),
         ("drift report seconds for the largest window", 30.0, "max")]


def training_steps(cfg, steps: int) -> dict:
    """Seconds per training step on the same batches: padded to the batch's longest sentence,
    then to max_length (128), the same model from the same weights."""
    splits, _ = load_cola(cfg.data.path)
    name, _ = resolve_model(cfg.model.name, splits["train"]["sentence"][:], "outputs/bench-model")
    times = {}
    for padding in ("longest", "max_length"):
        torch.manual_seed(0)
        model = ColaModel(name)
        data = ColaDataModule(splits, name, batch_size=cfg.data.batch_size,
                              max_length=cfg.data.max_length)
        if padding == "max_length":
            data.collate.padding, data.collate.max_length = "max_length", cfg.data.max_length
        data.setup()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
        batches = [b for _, b in zip(range(steps + 1), data.train_dataloader(), strict=False)]
        start = 0.0
        for i, batch in enumerate(batches):
            if i == 1:
                start = time.perf_counter()  # the first step warms up
            loss = model.model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        times[padding] = (time.perf_counter() - start) / steps
    return {"dynamic_s_per_step": times["longest"], "padded_s_per_step": times["max_length"],
            "padded_slowdown": times["max_length"] / times["longest"]}


def quick_model(tmp: Path) -> list[str]:
    """A tiny BERT trained for a few steps on the shipped sample, exported to ONNX."""
    sample = [line.split("\t")[3] for line in (SAMPLE_DATA_DIR / "train.tsv").read_text()
              .splitlines()]
    model = build_tiny_model(tmp / "tiny", sample)
    overrides = [f"data.path={SAMPLE_DATA_DIR}", f"model.name={model}", "training=quick",
                 "logger=csv", f"output_dir={tmp / 'run'}"]
    train(load_config(*overrides))
    return overrides


def rss_mb(pid: int, children: bool = False) -> float:
    """A process's resident memory; with `children`, its child processes' (server workers)
    added."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            own = int(line.split()[1]) / 1024
            break
    else:
        raise RuntimeError(f"no memory figure for process {pid}")
    if not children:
        return own
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(rss_mb(int(kid), children=True) for kid in kids)


def wait_healthy(url: str, timeout: float = 60, path: str = "/health") -> None:
    """Until `url` + `path` answers (a service's health check; "" for a server's root)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}{path}", timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url}{path} did not answer after {timeout:.0f} s") from None
            time.sleep(0.05)


def under_load(url: str, levels: tuple[int, ...], seconds: float) -> dict:
    rows = {}
    for clients in levels:
        started = time.perf_counter()
        results = asyncio.run(load(url, seconds, clients))
        rows[clients] = summarize(results, time.perf_counter() - started)
    return rows


def service(model: str, plan: dict, week: Path = WEEK, workers: int = 2,
            soak: bool = True) -> dict:
    """`python app.py` as its README starts it, in `week`, with WORKERS=`workers`: load levels,
    then a soak with its memory. Its stdout (week 9: one prediction event per sentence) goes
    to a file, as a log."""
    port = free_port()
    env = {**os.environ, "MODEL_PATH": model, "PORT": str(port), "WORKERS": str(workers)}
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen([sys.executable, "app.py"], env=env, cwd=week, stdout=log,
                                  stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url)
            levels = under_load(url, plan["levels"], plan["seconds"])
            if not soak:
                return {"workers": workers, "levels": levels}
            before = rss_mb(server.pid, children=True)
            soaked = under_load(url, (32,), plan["soak"])[32]
            after = rss_mb(server.pid, children=True)
        finally:
            server.terminate()
            server.wait(10)
    soaked |= {"clients": 32, "seconds": plan["soak"], "rss_start_mb": before,
               "rss_end_mb": after, "rss_growth": after / before - 1}
    return {"workers": workers, "levels": levels, "soak": soaked}


# Where a sample of the service's stack is: the first rule that matches any of its frames
# (events' own JSON counts as events, say). Native code (the tokenizer, ONNX Runtime's
# kernels) shows as the Python line that called it.
PROFILE_RULES = [("ONNX Runtime", ("onnxruntime/",)),
                 ("prediction events (week 9)", ("prediction_log.py",)),
                 ("tokenizer and pre/post-processing", ("inference_onnx.py",)),
                 ("JSON", ("json/", "to_json", "JSON.render")),
                 ("request validation", ("pydantic", "parse_request", "check_content_type")),
                 ("HTTP, routing and the event loop", ("",))]


# Innermost frames of a thread that waits: a thread-pool worker for work, the event loop in
# its select. py-spy does not always tell these from work, so they are left out.
WAITING = ("_worker (concurrent/futures/thread.py", "Runner.run (asyncio/runners.py",
           "select (selectors.py")


def sorted_samples(raw: str) -> dict[str, float]:
    """py-spy's raw output ("frame;frame;... count" lines, innermost frame last) as each rule's
    share of the samples that were working."""
    counts = dict.fromkeys((name for name, _ in PROFILE_RULES), 0)
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")[::-1]
        if frames[0].startswith(WAITING):
            continue
        name = next(name for name, markers in PROFILE_RULES
                    if any(m in frame for frame in frames for m in markers))
        counts[name] += int(count)
    total = sum(counts.values()) or 1
    return {name: n / total for name, n in counts.items()}


def profile(model: str, plan: dict, week: Path = WEEK) -> dict | None:
    """py-spy samples `python app.py` (one worker) under 8 clients: where a request's time goes.
    None without py-spy (pip install -r requirements.txt) or where it may not trace."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if not py_spy:
        return None
    port = free_port()
    env = {**os.environ, "MODEL_PATH": model, "PORT": str(port), "WORKERS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "samples.txt"
        recorder = subprocess.Popen(
            [py_spy, "record", "--nonblocking", "--format", "raw", "--output", str(raw), "--",
             sys.executable, "app.py"], env=env, cwd=week, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        try:
            wait_healthy(f"http://127.0.0.1:{port}")
            under_load(f"http://127.0.0.1:{port}", (8,), plan["seconds"])
        except RuntimeError:  # py-spy could not start the service (no permission to trace)
            return None
        finally:  # the service ends, then py-spy writes its samples and ends too
            children = Path(f"/proc/{recorder.pid}/task/{recorder.pid}/children")
            for child in children.read_text().split() if children.exists() else []:
                os.kill(int(child), signal.SIGTERM)
            recorder.wait(30)
        return sorted_samples(raw.read_text()) if raw.is_file() else None


def engine_or_none() -> str | None:
    return os.environ.get("CONTAINER_ENGINE") or shutil.which("podman") or shutil.which("docker")


def build_image(engine: str, model: str, tag: str, dockerfile: str = "Dockerfile") -> None:
    """Build `tag` from this week's `dockerfile` with `model` as the exported model; the build
    context holds what .dockerignore lets through (its "!" lines)."""
    with tempfile.TemporaryDirectory() as context:
        keep = [line[1:] for line in Path(".dockerignore").read_text().splitlines()
                if line.startswith("!") and not line.startswith("!outputs/")]
        for name in (dockerfile, ".dockerignore", *keep):
            Path(context, name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(name, Path(context, name))
        Path(context, "outputs/onnx").mkdir(parents=True)
        shutil.copy(model, Path(context, "outputs/onnx/model.int8.onnx"))
        build = subprocess.run([engine, "build", "-f", str(Path(context, dockerfile)), "-t", tag,
                                context], capture_output=True, text=True,
                               env={**os.environ, "BUILDAH_FORMAT": "docker"})
        if build.returncode != 0:
            raise RuntimeError(f"image build failed: {build.stderr[-1000:]}")


def container(model: str, plan: dict) -> dict | None:
    engine = engine_or_none()
    if engine is None:
        return None
    tag = "cola-service:bench"
    build_image(engine, model, tag)
    port = free_port()
    started = subprocess.run([engine, "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8000", tag],
                             capture_output=True, text=True, check=True).stdout.strip()
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        levels = under_load(f"http://127.0.0.1:{port}", plan["levels"][-1:], plan["seconds"])
    finally:
        subprocess.run([engine, "rm", "-f", started], capture_output=True)
    return {"engine": Path(engine).name, "image_mb": image_size_mb(engine, tag),
            "start_to_healthy_s": min(seconds_to_healthy(engine, tag) for _ in range(3)),
            "levels": levels}


def invoke_ms(url: str, payload: bytes) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, data=payload), timeout=60) as r:
        assert b"label" in r.read()
    return (time.perf_counter() - start) * 1000


def lambda_function(model: str, plan: dict) -> dict | None:
    """The Lambda image in its Runtime Interface Emulator: size, cold start, warm invokes."""
    engine = engine_or_none()
    if engine is None or not Path("Dockerfile.lambda").is_file():
        return None
    tag = "cola-lambda:bench"
    build_image(engine, model, tag, "Dockerfile.lambda")
    port = free_port()
    url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
    name = subprocess.run([engine, "run", "-d", "-p", f"127.0.0.1:{port}:8080", tag],
                          capture_output=True, text=True, check=True).stdout.strip()
    payload = b'{"text": "The boy is sleeping."}'
    try:
        for _ in range(200):  # until the emulator listens; the first answer is the cold start
            try:
                cold = invoke_ms(url, payload)
                break
            except OSError:
                time.sleep(0.05)
        warm = sorted(invoke_ms(url, payload) for _ in range(plan["single"]))
        logs = subprocess.run([engine, "logs", name], capture_output=True, text=True)
        # the emulator's INIT REPORT (its REPORT line's "Init Duration" is not the real one)
        init = re.search(r"INIT REPORT\(durationMs: ([\d.]+)\)", logs.stdout + logs.stderr)
    finally:
        subprocess.run([engine, "rm", "-f", name], capture_output=True)
    return {"image_mb": image_size_mb(engine, tag), "init_ms": float(init.group(1)),
            "cold_invoke_ms": cold, "warm_p50_ms": warm[len(warm) // 2],
            "warm_p99_ms": warm[min(len(warm) - 1, int(len(warm) * 0.99))]}


def fake_events(n: int, seed: int = 0) -> list[dict]:
    """n prediction events as the service writes them, one request each, over the last hour:
    what the shipper and the drift report read (their cost does not depend on the model)."""
    import random
    from datetime import UTC, datetime, timedelta

    rng, now = random.Random(seed), datetime.now(UTC)
    events = []
    for i in range(n):
        tokens = rng.randint(3, 30)
        stamp = (now - timedelta(seconds=3600 * (n - i) / n)).isoformat(timespec="milliseconds")
        events.append({
            "event": "prediction", "@timestamp": stamp.replace("+00:00", "Z"),
            "event_id": f"bench{seed}-{i}-0", "request_id": f"bench{seed}-{i}",
            "source": "fastapi", "model_sha256": "ab" * 32, "model_version": "bench",
            "text_chars": tokens * 5, "text_tokens": tokens, "unk_share": 0.0,
            "label": rng.choice(("acceptable", "unacceptable")),
            "score": round(rng.uniform(0.5, 1.0), 4), "latency_ms": 5.0, "batch_size": 1})
    return events


def shipper(plan: dict) -> dict | None:
    """The shipper's events/s into the in-memory OpenSearch API (osmem-server), as
    `python -m monitoring.ship` sends them: 500 per _bulk request."""
    if not (WEEK / "monitoring" / "shipper.py").is_file():
        return None
    from osmem_server import resolve_binary

    from monitoring.shipper import Shipper, dead_letter_file, make_client

    url = f"http://127.0.0.1:{free_port()}"
    server = subprocess.Popen([resolve_binary(), "-addr", url.removeprefix("http://"),
                               "-no-stdin-watch"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_healthy(url, 10, path="")
        events = fake_events(plan["shipped"])
        with tempfile.TemporaryDirectory() as tmp:
            ship = Shipper(make_client(url), dead_letter_file(Path(tmp) / "dead.jsonl"))
            start = time.perf_counter()
            counts = ship.ship(events)
            seconds = time.perf_counter() - start
    finally:
        server.kill()
        server.wait()
    return {"events": len(events), "indexed": counts.indexed, "seconds": seconds,
            "per_s": len(events) / seconds}


def drift_report(cfg, plan: dict) -> dict | None:
    """Seconds for the drift report (`python -m monitoring.drift_report --events FILE`, in this
    process: start-up left out) over windows of 1,000 and 100,000 events."""
    if not (WEEK / "monitoring" / "drift_report.py").is_file():
        return None
    import contextlib
    import io

    from monitoring import drift_report as report
    from monitoring.reference import save_reference

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "reference.json"
        with contextlib.redirect_stdout(io.StringIO()):
            save_reference(cfg.onnx.quantized, cfg.data.path, str(reference))
        for n in plan["drift_events"]:
            log = Path(tmp) / f"events-{n}.log"
            log.write_text("".join(json.dumps(e) + "\n" for e in fake_events(n, seed=n)))
            args = ["--events", str(log), "--set", f"monitoring.reference={reference}",
                    "--set", f"monitoring.report_dir={tmp}"]
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                status = report.main(args)
            rows[n] = {"seconds": time.perf_counter() - start, "exit": status}
    return rows


def figures(results: dict) -> dict[str, float]:
    """The figures that have a goal (GOALS), from the measured results."""
    found = {}
    backends = results["backends"]
    int8 = next((row for name, row in backends.items() if "int8" in name), None)
    if int8:
        eager = backends["PyTorch eager (fp32)"]["p50_ms"]
        found[GOALS[0][0]] = eager / int8["p50_ms"]
    fast = [row["per_s"] for row in results["service"]["levels"].values()
            if row["p99_ms"] <= 50 and not row["errors"]]
    found[GOALS[1][0]] = max(fast, default=0.0)
    if results.get("shipper"):
        found[GOALS[2][0]] = results["shipper"]["per_s"]
    if results.get("drift_report"):
        found[GOALS[3][0]] = results["drift_report"][max(results["drift_report"])]["seconds"]
    return found


def goals_table(results: dict) -> str:
    lines, missed = ["| figure | measured | goal | met |", "|---|---|---|---|"], []
    for name, goal, kind in GOALS:
        value = figures(results).get(name)
        if value is None:
            continue
        met = value >= goal if kind == "min" else value <= goal
        missed += [] if met else [name]
        lines.append(f"| {name} | {value:,.1f} | {'>=' if kind == 'min' else '<='} {goal:,.0f} "
                     f"| {'yes' if met else 'MISSED'} |")
    return "\n".join([*lines, "", "missed: " + ("; ".join(missed) or "none")])


def table(results: dict) -> str:
    t, lines = results["training"], ["| what | number |", "|---|---|"]
    lines.append(f"| training step, dynamic padding / padded to 128 | "
                 f"{t['dynamic_s_per_step'] * 1000:.0f} / {t['padded_s_per_step'] * 1000:.0f} ms "
                 f"({t['padded_slowdown']:.1f}x) |")
    eager = results["backends"]["PyTorch eager (fp32)"]["p50_ms"]
    for name, row in results["backends"].items():
        lines.append(f"| {name}: 1 sentence p50 / p99, batch 32, size, accuracy, MCC | "
                     f"{row['p50_ms']:.2f} / {row['p99_ms']:.2f} ms ({eager / row['p50_ms']:.1f}x "
                     f"eager), {row['batch32_per_s']:.0f}/s, {row['size_mb']:.1f} MB, "
                     f"{row['accuracy']:.3f}, {row['mcc']:.3f} |")
    names = {"service": f"service ({WEEK.name}, 2 workers)",
             "service_one_worker": f"service ({WEEK.name}, 1 worker)",
             "service_week_5": f"service ({FIRST_SERVICE.name}, 2 workers: no events written)",
             "container": "container"}
    for where, label in names.items():
        if where in ("service_one_worker", "service_week_5") and not results.get(where):
            continue
        if not results.get(where):
            lines.append(f"| {where} | not measured: no container engine |")
            continue
        for clients, row in results[where]["levels"].items():
            lines.append(f"| {label}, {clients} clients | {row['per_s']:.0f} requests/s, p50 "
                         f"{row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
                         f"{row['errors']} errors |")
    soak = results["service"]["soak"]
    lines.append(f"| service soak, {soak['clients']} clients for {soak['seconds']:.0f} s | "
                 f"{soak['requests']} requests, {soak['errors']} errors, memory "
                 f"{soak['rss_start_mb']:.0f} -> {soak['rss_end_mb']:.0f} MB "
                 f"({soak['rss_growth']:+.1%}) |")
    if results.get("container"):
        c = results["container"]
        lines.append(f"| image ({c['engine']}) / start to healthy | {c['image_mb']:.0f} MB / "
                     f"{c['start_to_healthy_s']:.2f} s |")
    if results.get("profile"):
        shares = ", ".join(f"{name} {share:.0%}" for name, share in results["profile"].items())
        lines.append(f"| where the service's time goes (py-spy, 1 worker, 8 clients) | "
                     f"{shares} |")
    if results.get("shipper"):
        s = results["shipper"]
        lines.append(f"| shipper, {s['events']:,} events into the local OpenSearch API | "
                     f"{s['seconds']:.1f} s, {s['per_s']:,.0f} events/s |")
    for n, row in (results.get("drift_report") or {}).items():
        lines.append(f"| drift report, {n:,} events (in process) | {row['seconds']:.2f} s, "
                     f"exit status {row['exit']} |")
    if results.get("lambda"):
        f = results["lambda"]
        lines.append(f"| Lambda image / init duration / first (cold) invoke, emulator | "
                     f"{f['image_mb']:.0f} MB / {f['init_ms']:.0f} ms / "
                     f"{f['cold_invoke_ms']:.0f} ms |")
        lines.append(f"| Lambda warm invoke, direct to the emulator, p50 / p99 | "
                     f"{f['warm_p50_ms']:.1f} / {f['warm_p99_ms']:.1f} ms |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny model, shipped sample")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("overrides", nargs="*", help="config overrides, as for train.py")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    torch.set_num_threads(args.threads)
    datasets.disable_progress_bars()  # the table is the output: no progress bars around it
    transformers.logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        overrides = quick_model(Path(tmp)) if args.quick else args.overrides
        cfg = load_config(*overrides)
        if not Path(cfg.checkpoint).is_file():
            print(f"error: no trained model at {cfg.checkpoint}: train first (cd {WEEK.name} "
                  f"&& python train.py ...) or use --quick", file=sys.stderr)
            return 2
        if not Path(cfg.onnx.quantized).is_file():
            convert(cfg.checkpoint, cfg.onnx.model, cfg.onnx.quantized)
        backends, sentences, labels = load_backends(cfg, args.threads)
        results = {
            "mode": "quick" if args.quick else "full", "week": WEEK.name,
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "threads": args.threads, "sentences": len(sentences),
            "training": training_steps(cfg, plan["steps"]),
            "backends": {name: measure(predict, size, sentences, labels, plan["single"])
                         for name, (predict, size) in backends.items()},
            "service": service(str(Path(cfg.onnx.quantized).resolve()), plan),
            "service_one_worker": service(str(Path(cfg.onnx.quantized).resolve()), plan,
                                          workers=1, soak=False),
            "service_week_5": service(str(Path(cfg.onnx.quantized).resolve()), plan,
                                      FIRST_SERVICE) if FIRST_SERVICE != WEEK else None,
            "profile": profile(str(Path(cfg.onnx.quantized).resolve()), plan),
            "shipper": shipper(plan),
            "drift_report": drift_report(cfg, plan),
            "container": container(cfg.onnx.quantized, plan),
            "lambda": lambda_function(cfg.onnx.quantized, plan),
        }
    print(table(results))
    print()
    print(goals_table(results))
    out = ROOT / "results" / f"bench-{results['mode']}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
