"""Multi-process training: `train.launcher` runs the train stage under `accelerate launch`.

There is no GPU here, so the shipped two-process config runs two CPU processes that average
gradients over gloo, through the real `dvc repro`: the same launcher path a multi-GPU run takes.
"""

from __future__ import annotations

import json
import math

import pytest
import yaml
from support import DVC, executed, new_project, run

from think_prune_train.training import load_model

pytestmark = pytest.mark.slow  # the real `dvc repro` under accelerate

LAUNCHER = "accelerate launch --config_file conf/accelerate/cpu-2-processes.yaml"


def test_train_stage_runs_as_two_gloo_processes(tmp_path):
    project = new_project(tmp_path / "repo", overrides=(f"train.launcher={LAUNCHER}",))
    output = run(DVC + ["repro", "train@r1"], project)
    assert "train@r1" in executed(output)
    assert f"{LAUNCHER} -m stages.train --round r1" in output  # DVC ran the templated command
    assert "(2 process(es))" in output

    log = json.loads((project / "data/train_logs/r1.json").read_text())
    assert log["processes"] == 2
    # Each process took its half of every batch: the optimizer steps follow the two-process batch.
    train = yaml.safe_load((project / "params.yaml").read_text())["train"]
    steps_per_epoch = math.ceil(log["examples"] / (train["batch_size"] * train["gradient_accumulation"] * 2))
    assert log["steps"] == math.ceil(steps_per_epoch * train["epochs"])
    # One complete checkpoint, written once, with no staging folder left by a second writer.
    assert sorted(p.name for p in (project / "models").iterdir() if p.name.startswith(".r1")) == []
    model, _ = load_model(project / "models/r1")
    assert sum(p.numel() for p in model.parameters()) > 0
