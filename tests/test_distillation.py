"""Teacher distillation and teacher selection through the real `dvc repro` on the micro profile."""

from __future__ import annotations

import json

import pytest
import yaml
from support import DVC, REPO, STAGES, attempt, executed, locked_outputs, new_project, run

from think_prune_train.params import ParamsError, candidate_teacher, check_top_level, load_params

pytestmark = pytest.mark.slow


def test_a_teacher_generates_every_round_and_the_student_trains_on_it(reference_project, tmp_path):
    # Micro models are rarely right: train on whatever the teacher writes (the no-pruning control).
    project = new_project(tmp_path / "repo", overrides=("teacher.source=tiny", "prune.require_correct=false"))
    output = run(DVC + ["repro"], project)
    assert {"teacher@teacher", "generate@r1", "train@r1"} <= executed(output)
    assert "python -m stages.generate --round r1 --model models/teacher" in output
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert "models/teacher" in [dep["path"] for dep in lock["generate@r1"]["deps"]]
    assert "models/r0" in [dep["path"] for dep in lock["prune@r1"]["deps"]]  # lengths in the student's tokens
    assert json.loads((project / "data/train_logs/r1.json").read_text())["start"] == "models/r0"
    ours, self_taught = locked_outputs(project), locked_outputs(reference_project)
    assert ours["models/r0"] == self_taught["models/r0"]  # the same student...
    assert ours["data/generated/r1.parquet"] != self_taught["data/generated/r1.parquet"]  # ...other traces


def test_teacher_params_derive_the_generators(tmp_path):
    project = new_project(tmp_path / "repo", overrides=("teacher.source=tiny", "rounds=2"))
    params = load_params(project / "params.yaml")
    assert params["generators"] == {"r1": "teacher", "r2": "teacher"} and params["teachers"] == ["teacher"]
    params["teacher"]["source"] = "none"  # edited by hand without recomposing
    with pytest.raises(ParamsError, match="generators"):
        check_top_level(params)


def test_each_candidate_teacher_gets_its_own_trial_stage(tmp_path):
    candidates = ("+teacher_selection.candidates.short.source=tiny",
                  "+teacher_selection.candidates.long.source=tiny",
                  "+teacher_selection.candidates.long.warmup.epochs=8.0",
                  "prune.require_correct=false")  # micro models are rarely right: train on whatever they write
    project = new_project(tmp_path / "repo", overrides=candidates)
    params = load_params(project / "params.yaml")
    assert candidate_teacher(params, "long").warmup.epochs == 8.0
    assert candidate_teacher(params, "long").tiny.hidden_size == params["teacher"]["tiny"]["hidden_size"]
    output = run(DVC + ["repro", "select_teacher@short", "select_teacher@long"], project)
    assert {"select_teacher@short", "select_teacher@long"} <= executed(output)
    trials = {name: json.loads((project / f"reports/teachers/{name}.json").read_text()) for name in ("short", "long")}
    for trial in trials.values():
        assert trial["prune"]["traces"] == 8 * params["generate"]["samples_per_question"]
        assert trial["test_questions"] == 4
        assert 0.0 <= trial["student"]["pass@1"] <= 1.0 and 0.0 <= trial["teacher"]["pass@1"] <= 1.0
    # Each trial built its own candidate's teacher: the candidate's keys over the `teacher` section.
    assert params["teacher"]["warmup"]["epochs"] != 8.0  # else the two candidates' teachers would be alike
    assert trials["long"]["teacher_params"]["warmup"]["epochs"] == 8.0
    assert trials["short"]["teacher_params"]["warmup"] == params["teacher"]["warmup"]
    assert trials["short"]["train"]["first_loss"] != trials["long"]["train"]["first_loss"]  # students of different traces
    table = run(STAGES + ["teachers"], project)
    assert "| short |" in table and "| long |" in table
    # A third candidate runs alone: the others' trials are not redone. It is killed once after its
    # first chunk of traces; the rerun resumes from the teacher and the chunk it had saved.
    run(STAGES + ["params", *candidates, "+teacher_selection.candidates.third.source=tiny"], project)
    killed = attempt(STAGES + ["select_teacher", "--candidate", "third", "--problems", "data/problems", "--student",
                               "models/r0", "--out", "reports/teachers/third.json"], project,
                     TPT_FAILPOINT="trial-generate.chunk:1")
    assert killed.returncode != 0 and not (project / "reports/teachers/third.json").exists()
    output = run(DVC + ["repro", "select_teacher@short", "select_teacher@long", "select_teacher@third"], project)
    assert executed(output) == {"select_teacher@third"}
    assert "trial-generate@third: resuming, 1/1 chunks" in output
    assert not (project / "data/.resume/select_teacher-third").exists()  # dropped once the report was written
    # Every candidate gets the pipeline's seeds: `third` is `short` again, so its trial is too.
    third = json.loads((project / "reports/teachers/third.json").read_text())
    assert {**third, "candidate": "short"} == trials["short"]


def test_a_candidate_without_a_source_is_refused(tmp_path):
    out = tmp_path / "params.yaml"
    failed = attempt(STAGES + ["params", "+teacher_selection.candidates.x.warmup.epochs=2.0", "--out", str(out)], REPO)
    assert failed.returncode == 2 and "teacher_selection.candidates.x: must be a mapping" in failed.stderr
    assert not out.exists()
