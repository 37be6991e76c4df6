"""The README's way to OpenSearch without Docker, run as written: `make opensearch-local` in the
background, then `make ship`; and `make monitoring-up` with podman's compose."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config_schema import load_config
from helpers import WEEK_DIR, free_port, make_events

# after the block, while the server still runs: the ids of the documents it holds
CHECK = """
python -c 'import json, os; from opensearchpy import OpenSearch
c = OpenSearch([os.environ["OPENSEARCH_URL"]]); c.indices.refresh(index="cola-predictions-*")
hits = c.search(index="cola-predictions-*", body={"size": 100})["hits"]["hits"]
print("ids:", json.dumps(sorted(h["_id"] for h in hits)))'
"""


def readme_block(after: str) -> str:
    readme = (WEEK_DIR / "README.md").read_text(encoding="utf-8")
    return re.search(re.escape(after) + r".*?```bash\n(.*?)```", readme, re.S).group(1)


def test_the_readme_ships_events_into_the_local_opensearch_as_written(tmp_path: Path) -> None:
    block = readme_block("Start OpenSearch and ship the events")
    assert block.startswith("make opensearch-local &") and "make ship EVENTS=service.log" in block
    week = tmp_path / WEEK_DIR.name
    shutil.copytree(WEEK_DIR, week, ignore=shutil.ignore_patterns("outputs", "tests", ".*cache"))
    events = make_events(2)
    # what `python app.py | tee service.log` holds after the README's request: uvicorn's lines
    # and one event per sentence
    (week / "service.log").write_text(
        "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)\n"
        + "".join(json.dumps(e) + "\n" for e in events)
        + 'INFO:     127.0.0.1:50312 - "POST /predict HTTP/1.1" 200 OK\n', encoding="utf-8")
    address = f"127.0.0.1:{free_port()}"  # the README's 9200, unless something else has it
    env = {**os.environ, "OPENSEARCH_LOCAL": address, "OPENSEARCH_URL": f"http://{address}",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    # the block as written; whatever happens, then the server it started (its process group)
    script = "trap 'kill -- -$$' EXIT\nset -e\n" + block + CHECK
    result = subprocess.run(["setsid", "bash", "-c", script], cwd=week, env=env,
                            capture_output=True, text=True, timeout=120)
    out = result.stdout + result.stderr
    assert "2 indexed, 0 already there, 0 to the dead-letter file" in out, out[-3000:]
    assert f"ids: {json.dumps(sorted(e['event_id'] for e in events))}" in out, out[-3000:]
    assert "Traceback" not in out and "error:" not in out, out[-3000:]


def test_monitoring_up_uses_podman_compose_when_docker_is_podman() -> None:
    def dry_run(*args: str) -> str:
        outer_make = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
        return subprocess.run(["make", "-n", "monitoring-up", *args], cwd=WEEK_DIR, check=True,
                              env=outer_make, capture_output=True, text=True).stdout.strip()

    assert dry_run() == "docker compose -f docker-compose.monitoring.yml up -d --wait"
    command = dry_run("DOCKER=podman")
    assert command == "podman-compose -f docker-compose.monitoring.yml up -d --wait"
    compose = shutil.which("podman-compose", path=str(Path(sys.executable).parent))
    if compose and shutil.which("podman"):  # podman-compose reads the file as it would start it
        parsed = subprocess.run([compose, "-f", "docker-compose.monitoring.yml", "config"],
                                cwd=WEEK_DIR, capture_output=True, text=True)
        assert parsed.returncode == 0, parsed.stderr
        assert "opensearchproject/opensearch:2.19.1" in parsed.stdout


def test_the_opensearch_settings_come_from_the_environment_when_it_has_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    monkeypatch.delenv("OPENSEARCH_REGION", raising=False)
    defaults = load_config().monitoring
    assert (defaults.opensearch, defaults.aws_region) == ("http://localhost:9200", None)
    monkeypatch.setenv("OPENSEARCH_URL", "https://search-cola.eu-west-1.es.amazonaws.com")
    monkeypatch.setenv("OPENSEARCH_REGION", "eu-west-1")
    given = load_config().monitoring
    assert (given.opensearch, given.aws_region) == (
        "https://search-cola.eu-west-1.es.amazonaws.com", "eu-west-1")
    assert load_config("monitoring.opensearch=http://127.0.0.1:9201").monitoring.opensearch \
        == "http://127.0.0.1:9201"  # an override still wins
