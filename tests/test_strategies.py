"""Selection and training strategies wired into the stages: each changes what it should, is
recorded in the round's stats or train log, and reruns only its own stage onward."""

from __future__ import annotations

import json
import shutil
import sys

import pandas as pd
import pytest
from support import assert_reran, attempt, run
from transformers import AutoTokenizer

from think_prune_train.artifacts import Pairs, Pruned, read_frame
from think_prune_train.params import ParamsError, PruneParams, TrainParams, VerifierParams
from think_prune_train.selection.prune import grade_traces, preference_pairs, prune, token_lengths
from think_prune_train.training.tiny_model import build_char_tokenizer

DVC = [sys.executable, "-m", "dvc"]


def traces() -> pd.DataFrame:
    """q1: four correct traces of different lengths (two near-duplicates), q2: solved by every sample,
    q3: one correct and two wrong traces sharing their opening."""
    completions = {
        ("q1", 0): "2+3=5\n#### 5",
        ("q1", 1): "2+3=5 \n#### 5",
        ("q1", 2): "first 2, then 2+3 is 5, so the sum is 5\n#### 5",
        ("q1", 3): "3+2 = 5 because addition commutes and 3+2 is five\n#### 5",
        ("q2", 0): "1+1=2\n#### 2",
        ("q2", 1): "1+1=2\n#### 2",
        ("q3", 0): "7+1 = 8 and 8-2 = 6\n#### 6",
        ("q3", 1): "7+1 = 8 and 8-2 = 5\n#### 5",
        ("q3", 2): "7+1 = 8 and 8-2 = 4\n#### 4",
    }
    answers = {"q1": "5", "q2": "2", "q3": "6"}
    return pd.DataFrame(
        [
            {"round": "r1", "question_id": q, "sample": s, "seed": 0, "prompt": f"{q}?\n", "completion": c,
             "answer": answers[q]}
            for (q, s), c in completions.items()
        ]
    )


def strict_verdicts() -> pd.Series:
    """The numeric verifier's strict verdicts on `traces()`, as the prune stage computes them."""
    return grade_traces(traces(), "strict", VerifierParams())


def kept_samples(params: PruneParams) -> tuple[list[list], dict]:
    frame = traces()
    correct = grade_traces(frame, params.grading, VerifierParams())
    kept, stats = prune(frame, params, seed=0, correct=correct, tokenizer=build_char_tokenizer())
    return kept[["question_id", "sample"]].values.tolist(), stats


def test_default_selection_keeps_the_first_samples_and_reports_as_before():
    kept, stats = kept_samples(PruneParams(max_per_question=2))
    assert kept == [["q1", 0], ["q1", 1], ["q2", 0], ["q3", 0]]
    assert set(stats) == {"traces", "correct", "kept", "questions", "questions_with_correct", "coverage", "accuracy"}


@pytest.mark.parametrize(
    ("select", "expected_q1"),
    [("shortest", [0, 1]), ("longest", [2, 3]), ("spread", [0, 2]), ("diverse", [0, 3])],
)
def test_each_selection_picks_other_traces_than_first(select, expected_q1):
    kept, stats = kept_samples(PruneParams(max_per_question=2, select=select))
    assert [sample for question, sample in kept if question == "q1"] == expected_q1
    assert stats["select"] == select and stats["mean_kept_tokens"] > 0


def test_diverse_skips_the_near_duplicate_that_first_keeps():
    first, _ = kept_samples(PruneParams(max_per_question=2))
    diverse, _ = kept_samples(PruneParams(max_per_question=2, select="diverse"))
    assert ["q1", 1] in first and ["q1", 1] not in diverse


def test_length_and_format_filters_count_what_they_drop():
    kept, stats = kept_samples(PruneParams(max_per_question=0, max_tokens=30))
    assert ["q1", 2] not in kept and ["q1", 3] not in kept
    assert stats["dropped_too_long"] == 2 and stats["dropped_bad_format"] == 0
    frame = traces()
    frame.loc[0, "completion"] = "2+3=5, so 5"  # right number, no '####' line
    params = PruneParams(grading="flexible", require_format=True)
    kept, stats = prune(frame, params, seed=0, correct=grade_traces(frame, "flexible", VerifierParams()))
    assert stats["dropped_bad_format"] == 1 and ["q1", 0] not in kept[["question_id", "sample"]].values.tolist()


def test_long_share_cap_drops_the_longest():
    kept, stats = kept_samples(PruneParams(max_per_question=0, long_tokens=30, max_long_share=0.25))
    assert ["q1", 3] not in kept  # the longest went first
    assert stats["dropped_long_share"] >= 1
    long_count = sum(1 for question, sample in kept if question == "q1" and sample in (2, 3))
    assert long_count / len(kept) <= 0.25


def test_question_compression_drops_questions_already_solved():
    kept, stats = kept_samples(PruneParams(max_per_question=0, compress_above=0.9))
    assert {question for question, _ in kept} == {"q3"}  # q1 (4/4) and q2 (2/2) are solved already
    assert stats["questions_compressed"] == 2
    kept, stats = kept_samples(PruneParams(max_per_question=0, compress_above=1.0))
    assert {question for question, _ in kept} == {"q1", "q2", "q3"} and "questions_compressed" not in stats


def test_preference_pairs_contrast_only_what_follows_the_shared_opening():
    pairs = Pairs.validate(preference_pairs(traces(), PruneParams(pairs_per_question=2), strict_verdicts()))
    assert set(pairs["question_id"]) == {"q3"}  # the only question with right and wrong traces
    assert len(pairs) == 2
    first = pairs.iloc[0]
    assert first["prompt"] == "q3?\n7+1 = 8 and 8-2 = " and first["chosen"] == "6\n#### 6"
    assert first["shared_prefix_chars"] == len("7+1 = 8 and 8-2 = ")
    whole = preference_pairs(traces(), PruneParams(pairs_per_question=2, pair_shared_prefix=False), strict_verdicts())
    assert (whole["shared_prefix_chars"] == 0).all() and whole.iloc[0]["chosen"] == "7+1 = 8 and 8-2 = 6\n#### 6"
    assert preference_pairs(traces(), PruneParams(pairs_per_question=0), strict_verdicts()).empty


def test_strategy_params_are_checked():
    for make in (lambda: PruneParams(select="random"), lambda: PruneParams(compress_above=1.5),
                 lambda: TrainParams(objective="ppo"), lambda: TrainParams(objective_by_round={"r2": "rl"}),
                 lambda: TrainParams(objective_by_round={"2": "dpo"}), lambda: TrainParams(dpo_learning_rate=0.0)):
        with pytest.raises(ParamsError):
            make()
    assert TrainParams(objective_by_round={"r3": "dpo_sft"}).objective_for("r3") == "dpo_sft"
    assert TrainParams(objective_by_round={"r3": "dpo_sft"}).objective_for("r2") == "sft"
    mixed = TrainParams(learning_rate=5e-4, dpo_learning_rate=5e-5)
    assert (mixed.learning_rate_for("sft"), mixed.learning_rate_for("dpo"), mixed.learning_rate_for("dpo_sft")) == (5e-4, 5e-5, 5e-5)
    assert TrainParams(learning_rate=5e-4).learning_rate_for("dpo") == 5e-4


@pytest.fixture
def project(reference_project, tmp_path):
    """A clone of the micro-profile reference run, with its DVC cache."""
    clone = tmp_path / "repo"
    run(["git", "clone", "-q", str(reference_project), str(clone)], tmp_path)
    shutil.copytree(reference_project / ".dvc" / "cache", clone / ".dvc" / "cache")
    run(DVC + ["checkout", "-q"], clone)
    return clone


@pytest.mark.slow
def test_strategies_rerun_from_their_own_stage_and_are_recorded(project):
    output = run(DVC + ["exp", "run", "-S", "prune.select=diverse", "-S", "prune.max_tokens=22",
                        "-S", "train.objective=dpo_sft", "-S", "train.dpo_learning_rate=0.0002"], project)
    # summary reads reports/r1/rounds.csv: it reruns only if the micro model's r1 accuracy moved.
    assert_reran(output, {"prune@r1", "train@r1", "evaluate@r1", "report@r1"}, {"summary"})
    stats = json.loads((project / "data/pruned/r1-stats.json").read_text())
    assert stats["select"] == "diverse" and "dropped_too_long" in stats
    log = json.loads((project / "data/train_logs/r1.json").read_text())
    assert log["objective"] == "dpo_sft" and log["learning_rate"] == 0.0002
    assert log["examples"] == len(read_frame(project / "data/pairs/r1.parquet", Pairs))
    pruned = read_frame(project / "data/pruned/r1.parquet", Pruned)
    assert len(pruned) == stats["kept"]
    # prune.max_tokens=22 counts the tokens of the model being trained (models/r0's tokenizer).
    lengths, _ = token_lengths(pruned["completion"], AutoTokenizer.from_pretrained(str(project / "models/r0")))
    assert (lengths <= 22).all(), lengths.max()
    results = run([sys.executable, "-m", "stages", "results"], project)
    assert "| diverse |" in results and "| dpo_sft |" in results


@pytest.mark.slow
def test_dpo_without_pairs_is_a_clear_error(project):
    failed = attempt(DVC + ["exp", "run", "-S", "prune.pairs_per_question=0", "-S", "train.objective=dpo"], project)
    assert failed.returncode != 0
    assert "needs preference pairs" in failed.stdout + failed.stderr
    assert "Traceback" not in failed.stdout + failed.stderr
