"""One verdict for prune and evaluate: numbers, maths answers (math-verify) and code (the sandbox)."""

from __future__ import annotations

import pandas as pd
import pytest

from think_prune_train.generation.sampling import grade_rows
from think_prune_train.params import ParamsError, PrepareParams, VerifierParams, load_section
from think_prune_train.selection.prune import grade_traces
from think_prune_train.tasks import load_splits, split_with_mix
from think_prune_train.tasks.code import function_from_examples_item
from think_prune_train.verify.code import code_answer
from think_prune_train.verify.grading import grade
from think_prune_train.verify.numeric import is_correct
from think_prune_train.verify.reasoning_gym import parse_entry_answer

NUMERIC, MATH, CODE, RG = (VerifierParams(kind=kind) for kind in ("numeric", "math", "code", "reasoning_gym"))


def test_numeric_verdicts_are_the_grader_they_always_were():
    completions = ["3 + 4 = 7\n#### 7", "#### 7.0", "it is 7", "#### 1,000", "#### 8", ""]
    answers = ["7", "7", "7", "1000", "7", "7"]
    graded = grade(completions, answers, NUMERIC)
    assert graded["correct"].tolist() == [is_correct(c, a, "strict") for c, a in zip(completions, answers)]
    assert graded["correct_flexible"].tolist() == [is_correct(c, a, "flexible") for c, a in zip(completions, answers)]
    assert graded["correct"].tolist() == [True, True, False, True, False, False]
    assert graded["predicted"].tolist()[:2] == ["7", "7"]


def test_maths_answers_are_compared_as_maths():
    completions = ["so the answer is $\\boxed{0.5}$", "\\boxed{2\\sqrt{2}}", "#### 1/3", "\\boxed{0.33}", "no idea"]
    answers = ["\\frac{1}{2}", "\\sqrt{8}", "\\frac{1}{3}", "\\frac{1}{3}", "4"]
    graded = grade(completions, answers, MATH)
    assert graded["correct"].tolist() == [True, True, True, False, False]
    assert graded["correct"].tolist() == graded["correct_flexible"].tolist()
    assert graded["predicted"][0] == "$0.5$"


def test_code_runs_in_the_sandbox_strict_and_fenced():
    tests = "assert f(2) == 5\nassert f(10) == 21\n"
    answer = code_answer(tests, None, "")
    completions = [
        "def f(x):\n return 2*x+1",  # right
        "def f(x):\n return x+3",  # right on f(2) only
        "Here it is:\n```python\ndef f(x):\n    return 2*x+1\n```",  # right, but only once the fence is read
        "import sys\nsys.exit(0)",  # exits with success before the tests: not a pass
    ]
    graded = grade(completions, [answer] * 4, CODE)
    assert graded["correct"].tolist() == [True, False, False, False]
    assert graded["correct_flexible"].tolist() == [True, False, True, False]
    assert graded["predicted"].tolist()[:2] == ["passed", "failed"]


def test_prune_and_evaluate_share_the_verdict():
    item = function_from_examples_item(level=2, seed=3, index=0)
    rows = pd.DataFrame({"completion": [item["solution"], "def f(x):\n return 0"], "answer": [item["answer"]] * 2})
    assert grade_traces(rows, "strict", CODE).tolist() == [True, False]
    assert grade_rows(rows, CODE)["correct"].tolist() == [True, False]


@pytest.mark.parametrize("task, source, verifier", [
    ("function_from_examples", None, CODE),
    ("math", "tests/fixtures/math", MATH),
    ("code", "tests/fixtures/code/mbpp_sample.jsonl", CODE),
])
def test_every_tasks_reference_solutions_pass_its_own_verifier(task, source, verifier):
    """The gold answers and worked solutions of each new task agree under the task's verifier."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    params = PrepareParams(task=task, source=str(root / source) if source else None, train_questions=6,
                           test_questions=3, warmup_questions=2)
    splits = load_splits(params, seed=0)
    rows = pd.concat(splits.values())
    graded = grade(rows["solution"], rows["answer"], verifier)
    assert graded["correct"].all(), rows[~graded["correct"].to_numpy()]


# --- the loop, through the real `dvc repro` on the micro profile --------------------------------------


@pytest.mark.slow
def test_the_code_task_runs_the_loop_and_prunes_by_execution(tmp_path):
    import json

    import yaml
    from hostile_code import hostile_completions
    from support import DVC, STAGES, new_project, run

    # The micro model is rarely right: keep every trace (the no-pruning control), so the loop runs
    # through every stage whatever it writes; the verdicts still come from the sandbox.
    project = new_project(tmp_path / "repo", overrides=("task=function_from_examples", "prune.require_correct=false"))
    run(DVC + ["repro"], project)
    traces = pd.read_parquet(project / "data/generated/r1.parquet")
    stats = json.loads((project / "data/pruned/r1-stats.json").read_text())
    # What prune counted as correct is what the sandbox passes (micro profile: flexible grading).
    verdicts = grade(traces["completion"], traces["answer"], CODE)["correct_flexible"]
    assert stats["correct"] == int(verdicts.sum())
    # The micro model may pass nothing (0 == 0 above): plant the reference solution of the first
    # question as its first trace and prune again, by the stage's own command: it must count as correct.
    solutions = pd.read_parquet(project / "data/problems/train.parquet").set_index("question_id")["solution"]
    planted = traces.copy()
    planted.loc[0, "completion"] = solutions[planted.loc[0, "question_id"]]
    # The hostile suite (every question's function is `f`), one completion per trace after the first.
    hostile = hostile_completions(str(project), str(project / "params.yaml"), "/tmp/none.sock", "none")
    assert len(planted) > len(hostile)
    for row, completion in enumerate(hostile.values(), start=1):
        planted.loc[row, "completion"] = completion
    (project / "data/planted").mkdir()
    planted.to_parquet(project / "data/planted/r1.parquet", index=False)
    run(STAGES + ["prune", "--round", "r1", "--tokenizer", "models/r0", "--traces", "data/planted/r1.parquet",
                  "--out", "data/planted/pruned.parquet", "--stats", "data/planted/stats.json",
                  "--pairs", "data/planted/pairs.parquet"], project)
    replanted = json.loads((project / "data/planted/stats.json").read_text())
    verdicts = grade(planted["completion"], planted["answer"], CODE)["correct_flexible"]
    assert verdicts.iloc[0] and replanted["correct"] == int(verdicts.sum()) >= 1
    assert not verdicts.iloc[1 : len(hostile) + 1].any()
    # With pruning on, the stage keeps the reference solution and none of the hostile suite.
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["prune"]["require_correct"] = True
    (project / "data/planted/params.yaml").write_text(yaml.safe_dump(params))
    run(STAGES + ["prune", "--round", "r1", "--params", "data/planted/params.yaml", "--traces", "data/planted/r1.parquet",
                  "--out", "data/planted/kept.parquet", "--stats", "data/planted/kept-stats.json",
                  "--pairs", "data/planted/kept-pairs.parquet"], project)
    kept = set(pd.read_parquet(project / "data/planted/kept.parquet")["completion"])
    assert planted.loc[0, "completion"] in kept and not kept & set(hostile.values())
    rows = pd.read_parquet(project / "evaluations/r1/rows.parquet")
    assert set(rows["predicted"]) <= {"passed", "failed", "timeout", "memory", "output_limit", "error", "unsplittable"}
    assert (rows["correct"] == (rows["predicted"] == "passed")).all()


@pytest.mark.slow
def test_the_maths_task_runs_the_loop_on_fixtures(tmp_path):
    import json

    from support import DVC, REPO, new_project, run

    # The micro model cannot do MATH: train on whatever it writes (the no-pruning control), so the
    # loop runs through every stage; the verdicts are math-verify's. MATH prompts run to 158
    # characters: room for them and their answers (the micro profile's 64 would be refused).
    project = new_project(tmp_path / "repo", overrides=(
        "task=math", f"prepare.source={REPO / 'tests/fixtures/math'}", "prepare.train_questions=12",
        "prepare.test_questions=4", "prepare.warmup_questions=10", "prune.require_correct=false",
        "base.tiny.max_positions=320", "train.max_length=320",
    ))
    run(DVC + ["repro"], project)
    metrics = json.loads((project / "evaluations/r1/metrics.json").read_text())
    rows = pd.read_parquet(project / "evaluations/r1/rows.parquet")
    assert rows["answer"].str.len().gt(0).all() and not rows["answer"].str.fullmatch(r"-?\d+").all()  # LaTeX gold
    assert rows["correct"].tolist() == grade(rows["completion"], rows["answer"], MATH)["correct"].tolist()
    # Pass@1 is the mean strict verdict of the sampled rows (each question has the same number of samples).
    sampled = rows[rows["sample"] >= 0]
    assert metrics["questions"] == 4 and metrics["pass@1"] == pytest.approx(sampled["correct"].mean(), abs=1e-6)
    # The micro model may be right nowhere; the verdicts could have been True: each gold answer, boxed, is.
    boxed = [f"So the answer is $\\boxed{{{answer}}}$." for answer in rows["answer"]]
    assert grade(boxed, rows["answer"], MATH)["correct"].all()


def test_a_reasoning_gym_task_is_scored_by_its_own_scorer():
    """word_sorting's answers are word lists, not numbers: the dataset's score_answer judges them."""
    params = PrepareParams(task="word_sorting", train_questions=4, test_questions=2)
    rows = pd.concat(split_with_mix(params, seed=0, verifier_kind="reasoning_gym")[0].values())
    first = rows.iloc[0]
    task, entry = parse_entry_answer(first["answer"])
    right, wrong = f"sorted:\n#### {entry['answer']}", "#### zebra, apple"
    graded = grade([right, wrong, entry["answer"]], [first["answer"]] * 3, RG)
    assert task == "word_sorting"
    assert graded["correct"].tolist() == [True, False, False]  # strict needs the #### line
    assert graded["correct_flexible"].tolist() == [True, False, True]  # flexible reads the last line
    with pytest.raises(ParamsError, match="verifier.kind: must be one of"):
        load_section("verifier", {"verifier": {"kind": "vibes"}})
