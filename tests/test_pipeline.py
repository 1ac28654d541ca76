"""End to end: the real `dvc repro` and `dvc exp run` on the micro profile, in a temporary copy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support import assert_reran, executed, new_project, run

from think_prune_train.artifacts import Evaluations, Problems, Pruned, Traces, read_frame

pytestmark = pytest.mark.slow

README_EXP_SHOW = [sys.executable, "-m", "dvc", "exp", "show", "--no-pager", "--drop", ".*",
                   "--keep", "^(Experiment|rounds|pass@1|greedy|gain|greedy_gain)$"]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A fresh git + DVC copy of the repository whose conf/ selects the micro profile."""
    return new_project(tmp_path_factory.mktemp("project") / "repo")


def test_repro_runs_every_stage_and_writes_valid_artifacts(project):
    output = run([sys.executable, "-m", "dvc", "repro"], project)
    assert executed(output) == {
        "prepare", "base", "generate@r1", "prune@r1", "train@r1", "evaluate@r0", "evaluate@r1", "report@r0", "report@r1",
        "summary",
    }
    train = read_frame(project / "data/problems/train.parquet", Problems)
    test = read_frame(project / "data/problems/test.parquet", Problems)
    assert not set(train["question"]) & set(test["question"])
    traces = read_frame(project / "data/generated/r1.parquet", Traces)
    assert len(traces) == len(train) * 4
    assert len(read_frame(project / "data/pruned/r1.parquet", Pruned)) > 0
    rows = read_frame(project / "evaluations/r1/rows.parquet", Evaluations)
    assert (rows["sample"] == -1).sum() == len(test)
    assert set(rows["difficulty"]) <= set(test["difficulty"]) and len(set(test["difficulty"])) > 1
    assert set(json.loads((project / "reports/r1/metrics.json").read_text())["pass@1"]) == {"r0", "r1"}
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert metrics["final_round"] == 1 and set(metrics["by_round"]) == {"r0", "r1"}
    assert set(metrics["by_difficulty"]) == {f"d{level}" for level in set(test["difficulty"])}
    assert (project / "models/r1/model.safetensors").exists()
    # Where and in what precision each model trained: train.precision 'auto' is fp32 on a CPU.
    device = "cuda" if torch.cuda.is_available() else "cpu"
    warmup_log = json.loads((project / "data/train_logs/r0.json").read_text())
    train_log = json.loads((project / "data/train_logs/r1.json").read_text())
    assert warmup_log["source"] == "tiny" and warmup_log["examples"] == 256 and warmup_log["steps"] > 0
    for log in (warmup_log, train_log):
        assert log["device"] == device and log["precision"] == ("fp32" if device == "cpu" else "bf16"), log
    assert (project / "reports/r1/pass_at_1.png").read_bytes()[:4] == b"\x89PNG"
    assert executed(run([sys.executable, "-m", "dvc", "repro"], project)) == set()
    shown = json.loads(run([sys.executable, "-m", "dvc", "metrics", "show", "--json"], project))
    assert next(iter(shown.values()))["data"]["reports/metrics.json"]["data"] == metrics
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "round 1"], project)


def test_one_more_round_runs_only_the_new_stages(project):
    output = run([sys.executable, "-m", "dvc", "exp", "run", "-S", "rounds=2"], project)
    assert executed(output) == {"generate@r2", "prune@r2", "train@r2", "evaluate@r2", "report@r2", "summary"}
    assert set(json.loads((project / "reports/r2/metrics.json").read_text())["pass@1"]) == {"r0", "r1", "r2"}
    results = run([sys.executable, "-m", "stages", "results"], project)
    assert "| r2 |" in results


def test_experiments_with_different_rounds_compare_side_by_side(project):
    """The baseline (1 round) and the rounds=2 experiment both show their final Pass@1 and gain."""
    table = run([sys.executable, "-m", "dvc", "exp", "show", "--csv"], project)
    import csv
    import io

    rows = [row for row in csv.DictReader(io.StringIO(table)) if row["rev"] != "workspace"]  # the commit, the experiment
    rounds = {row["rounds"]: row for row in rows if row.get("rounds")}
    assert {"1", "2"} <= set(rounds), table
    for row in rounds.values():
        assert row["pass@1"] not in ("", "-") and row["gain"] not in ("", "-"), row
    # The README's command: a readable table in a 100-column terminal.
    shown = run(README_EXP_SHOW, project, COLUMNS="100")
    assert max(map(len, shown.splitlines())) <= 100 and "pass@1" in shown and "gain" in shown, shown


def test_going_back_executes_nothing(project):
    output = run([sys.executable, "-m", "dvc", "exp", "run", "-S", "rounds=1"], project)
    # Only `summary` may run: its small outputs live in git (cache: false), so the run-cache cannot
    # restore them; it rewrites two files from reports/r1 in about a second.
    assert executed(output) <= {"summary"}


def test_a_pruning_parameter_leaves_generation_alone(project):
    ran = executed(run([sys.executable, "-m", "dvc", "exp", "run", "-S", "prune.deduplicate=false"], project))
    assert "prune@r1" in ran
    assert not {"prepare", "base", "generate@r1", "evaluate@r0", "report@r0"} & ran


def test_a_training_parameter_reruns_training_onward_only(project):
    output = run([sys.executable, "-m", "dvc", "exp", "run", "-S", "train.learning_rate=0.0003"], project)
    # prune@r1 comes back from the run-cache; summary runs only if the report's numbers changed.
    assert_reran(output, {"train@r1", "evaluate@r1", "report@r1"}, {"summary"})


def test_returning_to_earlier_params_restores_from_the_run_cache(project):
    output = run([sys.executable, "-m", "dvc", "exp", "run"], project)
    assert "Stage 'train@r1' is cached - skipping run" in output
    assert executed(output) <= {"report@r1", "summary"}  # the report's small git-tracked files are rewritten


def test_push_and_pull_through_a_local_remote(project, tmp_path):
    remote = tmp_path / "remote"
    run([sys.executable, "-m", "dvc", "remote", "add", "-d", "local", str(remote)], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "results and remote"], project)
    run([sys.executable, "-m", "dvc", "push", "--run-cache"], project)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    run([sys.executable, "-m", "dvc", "pull"], clone)
    assert (clone / "models/r1/model.safetensors").exists()
    assert executed(run([sys.executable, "-m", "dvc", "repro"], clone)) == set()


def test_validate_command_reports_schema_breaks(project, tmp_path):
    good = run([sys.executable, "-m", "stages", "validate", "traces", "data/generated/r1.parquet"], project)
    assert "ok" in good
    import pandas as pd

    broken = tmp_path / "broken.parquet"
    pd.read_parquet(project / "data/generated/r1.parquet").drop(columns="answer").to_parquet(broken)
    result = subprocess.run(
        [sys.executable, "-m", "stages", "validate", "traces", str(broken)],
        cwd=project, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1 and "answer" in result.stderr and str(broken) in result.stderr
