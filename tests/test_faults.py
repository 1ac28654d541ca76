"""Faults: stages killed with SIGKILL at chosen points rerun to exactly the uninterrupted result.

Each kill goes through the real `dvc repro`; the stage process dies at a named failpoint
(`TPT_FAILPOINT`, see think_prune_train.failpoints) such as "a chunk of samples saved" or "the
checkpoint written but not yet moved into place". After every kill the DVC cache must hold no
corrupted file, and after the reruns every output must hash exactly as in a run never killed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support import DVC, ENV, attempt, corrupted_cache_files, executed, locked_outputs, new_project, run

pytestmark = pytest.mark.slow

# (stage, failpoint[:hit]) in pipeline order. The micro profile checkpoints generation every 32
# requests (3 chunks of 96) and evaluation every 8 (2 chunks of sampled, 1 of greedy).
KILLS = [
    ("prepare", "write.before_replace:2"),  # train split written, test split half-way
    ("base", "train.step:3"),  # warm-start mid-training
    ("base", "save_model.before_replace"),  # checkpoint complete in staging, not yet moved
    ("generate@r1", "generate.chunk:2"),  # 2 of 3 chunks of samples done
    ("prune@r1", "write.before_replace:1"),  # pruned traces complete in a temporary file
    ("prune@r1", "write.before_replace:2"),  # pruned traces in place, stats not yet
    ("train@r1", "train.step:1"),
    ("train@r1", "save_model.before_replace"),
    ("evaluate@r0", "evaluate.chunk:1"),  # 1 of 2 sampled chunks done
    ("evaluate@r1", "greedy.chunk:1"),  # all sampled chunks and the greedy one done
    ("evaluate@r1", "write.before_replace:2"),  # rows in place, metrics not yet
    ("report@r1", "write.before_replace:4"),  # tables written, plot half-way
]
RESUMED = {"generate.chunk:2": "resuming, 2/3 chunks", "evaluate.chunk:1": "resuming, 1/2 chunks"}


@pytest.fixture(scope="module")
def reference(reference_project) -> dict[str, str]:
    """dvc.lock's output hashes from an uninterrupted run of the micro profile."""
    return locked_outputs(reference_project)


def leftovers(project: Path) -> list[str]:
    """Temporary files, staging folders or resume checkpoints a killed run could leave behind."""
    found = [p for p in project.glob("data/**/.*.tmp")] + [p for p in project.glob("models/.r*")]
    resume = project / "data" / ".resume"
    found += [p for p in resume.rglob("*") if p.is_file()] if resume.exists() else []
    return [str(p.relative_to(project)) for p in found]


def test_killed_stages_rerun_to_the_uninterrupted_result(reference, tmp_path):
    project = new_project(tmp_path / "repo")
    for stage, point in KILLS:
        # --force: run the stage even where an earlier rerun (or the run-cache) has its outputs.
        killed = attempt(DVC + ["repro", "--force", "--single-item", stage], project, TPT_FAILPOINT=point)
        assert killed.returncode != 0, f"{stage} was not killed at {point}"
        # DVC reports the signal: -9 when the shell execs the stage, 137 when a shell in between reports it.
        assert re.search(r"exited with (-9|137)\b", killed.stderr), killed.stderr[-2000:]
        assert corrupted_cache_files(project) == []
        rerun = run(DVC + ["repro", "--force", "--single-item", stage], project)
        assert stage in executed(rerun)
        if point in RESUMED:
            assert RESUMED[point] in rerun
    run(DVC + ["repro"], project)  # report@r0 has not run yet
    assert executed(run(DVC + ["repro"], project)) == set()
    assert locked_outputs(project) == reference
    assert corrupted_cache_files(project) == []
    assert leftovers(project) == []

    # A stage that fails on bad params loses nothing: once fixed, its outputs come back from the cache.
    params = project / "params.yaml"
    good = params.read_text()
    params.write_text(good.replace("learning_rate: 0.0005", "learning_rate: -1.0"))
    failed = attempt(DVC + ["repro"], project)
    assert failed.returncode != 0 and "train.learning_rate: must be positive" in failed.stderr + failed.stdout
    params.write_text(good)
    restored = run(DVC + ["repro"], project)
    assert "Stage 'train@r1' is cached - skipping run" in restored and executed(restored) <= {"report@r1"}
    assert locked_outputs(project) == reference


def wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 300) -> None:
    """Poll `condition` until it holds; fail if `process` ends first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the process ended (exit {process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)


def test_killing_dvc_itself_mid_stage_loses_nothing(reference, tmp_path):
    """SIGKILL to `dvc repro` and its children together, in the middle of the warm-start."""
    project = new_project(tmp_path / "repo")
    run(DVC + ["repro", "prepare"], project)
    reached = tmp_path / "failpoints.log"  # the stage notes each failpoint it passes (nothing is killed by it)
    started = subprocess.Popen(
        DVC + ["repro", "base"], cwd=project, env={**ENV, "TPT_FAILPOINT_LOG": str(reached)}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    # The warm-start has begun once its first optimizer step has ended; it has many more to go.
    wait_for(lambda: reached.exists() and "train.step" in reached.read_text().split(), started, "a warm-start step")
    os.killpg(started.pid, signal.SIGKILL)
    started.wait()
    assert corrupted_cache_files(project) == []
    run(DVC + ["repro"], project)  # DVC clears the dead process's locks itself
    assert locked_outputs(project) == reference
    assert corrupted_cache_files(project) == []
