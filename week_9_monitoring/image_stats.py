"""Measure a built service image: its size, and the time from `run` to the first answer from
/health. Works with podman or docker (CONTAINER_ENGINE, else whichever is installed).

    docker build -t cola-service . && python image_stats.py cola-service
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def find_engine() -> str:
    engine = os.environ.get("CONTAINER_ENGINE") or shutil.which("podman") or shutil.which("docker")
    if not engine:
        raise RuntimeError("no container engine: install docker or podman")
    return engine


def image_size_mb(engine: str, image: str) -> float:
    result = subprocess.run([engine, "image", "inspect", "--format", "{{.Size}}", image],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"no image {image!r} ({result.stderr.strip()[:200]})")
    return int(result.stdout.strip()) / 1e6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seconds_to_healthy(engine: str, image: str, timeout: float = 60) -> float:
    """Start a container, time `run` -> first 200 from /health, remove the container."""
    port = free_port()
    started = time.perf_counter()
    run = subprocess.run([engine, "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8000", image],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"could not start {image!r} ({run.stderr.strip()[:200]})")
    container = run.stdout.strip()
    try:
        while time.perf_counter() - started < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.02)
        raise RuntimeError(f"{image!r} was not healthy after {timeout:.0f} s")
    finally:
        subprocess.run([engine, "rm", "-f", container], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", nargs="?", default="cola-service")
    parser.add_argument("--runs", type=int, default=3, help="start-ups to time")
    args = parser.parse_args(argv)
    try:
        engine = find_engine()
        size = image_size_mb(engine, args.image)
        starts = sorted(seconds_to_healthy(engine, args.image) for _ in range(max(1, args.runs)))
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.image}: {size:.0f} MB; start to healthy {starts[0]:.2f}-{starts[-1]:.2f} s "
          f"over {len(starts)} runs ({os.path.basename(engine)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
