"""Helpers for the tests that run the real pipeline: fresh project copies and real commands."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

# The project's commands run with this interpreter's environment first on PATH, and with a git
# identity so `dvc exp run` can record experiments on a machine with no git config.
ENV = {
    **os.environ,
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    "GIT_AUTHOR_NAME": "tpt-test", "GIT_AUTHOR_EMAIL": "tpt-test@example.invalid",
    "GIT_COMMITTER_NAME": "tpt-test", "GIT_COMMITTER_EMAIL": "tpt-test@example.invalid",
}
ENV.pop("TPT_FAILPOINT", None)
ENV.pop("TPT_FAILPOINT_LOG", None)
DVC = [sys.executable, "-m", "dvc"]
STAGES = [sys.executable, "-m", "stages"]


def attempt(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run a command; return the result whatever its exit status."""
    return subprocess.run(args, cwd=cwd, env={**ENV, **env}, capture_output=True, text=True, check=False)


def run(args: list[str], cwd: Path, **env: str) -> str:
    """Run a command that must succeed; return its stdout + stderr."""
    result = attempt(args, cwd, **env)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout + result.stderr


def executed(output: str) -> set[str]:
    """Stages that `dvc repro` / `dvc exp run` actually ran (not restored, not skipped)."""
    return set(re.findall(r"Running stage '([^']+)'", output))


def assert_reran(output: str, required: set[str], allowed_if_results_change: set[str] = frozenset()) -> None:
    """The stages a change must rerun all ran, and nothing else did beyond those that rerun only when
    an upstream result's bytes change (a report, the summary): whether they do depends on the
    floating-point kernels of the CPU, not on the change."""
    ran = executed(output)
    assert required <= ran, f"expected {sorted(required - ran)} to run; ran {sorted(ran)}"
    assert ran <= required | allowed_if_results_change, f"unexpected stages ran: {sorted(ran - required - allowed_if_results_change)}"


def new_project(root: Path, profile: str | None = "micro", overrides: tuple[str, ...] = ()) -> Path:
    """A fresh git + DVC copy of the repository (code and config only, no outputs, no dvc.lock).

    `profile` is selected in conf/config.yaml and `overrides` (Hydra syntax) are composed into
    params.yaml, then everything is committed, as a user's clone would be.
    """
    root.mkdir(parents=True, exist_ok=True)
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        # Only the project itself: no tests, no benchmarks, no outputs of an earlier run here.
        output = name.startswith(("data/", "models/", "evaluations/")) and not name.endswith(".gitignore")
        if (REPO / name).is_file() and not output and not name.startswith(("tests/", "bench/")):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    (root / "dvc.lock").unlink(missing_ok=True)
    if profile:
        config = root / "conf" / "config.yaml"
        config.write_text(config.read_text().replace("  - task: chain_sum\n", f"  - task: chain_sum\n  - profile: {profile}\n"))
    run(STAGES + ["params", *overrides], root)
    run(["git", "init", "-q"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "new project"], root)
    return root


def locked_outputs(project: Path) -> dict[str, str]:
    """Every output recorded in dvc.lock with its content hash (md5 of the file or folder listing)."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def corrupted_cache_files(project: Path) -> list[str]:
    """Files in the DVC cache whose content does not hash to their name (there must be none)."""
    bad = []
    for file in (project / ".dvc" / "cache" / "files" / "md5").rglob("*"):
        if not file.is_file():
            continue
        name = file.parent.name + file.name
        name = name.removesuffix(".dir")
        if hashlib.md5(file.read_bytes()).hexdigest() != name:
            bad.append(str(file))
    return bad


class Interrupted(Exception):
    """What `Counting` raises to stand for a crash in the middle of generation."""


class Counting:
    """A real backend that counts the requests it is asked for and fails on call `fail_after` (a crash)."""

    def __init__(self, backend, fail_after: int | None = None):
        self.backend, self.fail_after, self.calls, self.requests = backend, fail_after, 0, 0
        self.tokenizer = getattr(backend, "tokenizer", None)

    def generate(self, requests, sampling, progress=None):
        if self.fail_after is not None and self.calls == self.fail_after:
            raise Interrupted
        self.calls += 1
        self.requests += len(requests)
        return self.backend.generate(requests, sampling)
