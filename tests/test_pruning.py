import pandas as pd
import pytest

from think_prune_train.params import PruneParams, VerifierParams
from think_prune_train.selection.prune import grade_traces, prune


def traces():
    completions = {
        ("q1", 0): "2+3=5\n####5",
        ("q1", 1): "2+3=5\n####5",  # duplicate of sample 0
        ("q1", 2): "2+3=6\n####6",  # wrong
        ("q1", 3): "3+2=5\n####5",
        ("q2", 0): "9-9=1\n####1",  # wrong
        ("q2", 1): "",  # empty output
        ("q3", 0): "the answer is 4",  # right number, no marker
    }
    answers = {"q1": "5", "q2": "0", "q3": "4"}
    return pd.DataFrame(
        [
            {"round": "r1", "question_id": q, "sample": s, "seed": 0, "prompt": f"{q}\n", "completion": c, "answer": answers[q]}
            for (q, s), c in completions.items()
        ]
    )


def pruned(frame: pd.DataFrame, params: PruneParams):
    """prune with the verdicts the stage gives it: the numeric verifier's, graded as `params` says."""
    return prune(frame, params, seed=0, correct=grade_traces(frame, params.grading, VerifierParams()))


def test_keeps_only_correct_deduplicated_and_capped():
    kept, stats = pruned(traces(), PruneParams(max_per_question=2, deduplicate=True))
    assert kept[["question_id", "sample"]].values.tolist() == [["q1", 0], ["q1", 3]]
    assert stats == {"traces": 7, "correct": 3, "kept": 2, "questions": 3, "questions_with_correct": 1,
                     "coverage": round(1 / 3, 6), "accuracy": round(3 / 7, 6)}


def test_options_change_the_selection():
    assert len(pruned(traces(), PruneParams(max_per_question=0, deduplicate=False))[0]) == 3
    assert len(pruned(traces(), PruneParams(max_per_question=1))[0]) == 1
    flexible, _ = pruned(traces(), PruneParams(grading="flexible", max_per_question=0))
    assert "q3" in set(flexible["question_id"])
    capped, _ = pruned(traces(), PruneParams(max_per_question=0, deduplicate=False, max_examples=2))
    assert len(capped) == 2


def test_no_pruning_control_keeps_wrong_traces_but_not_empty_ones():
    kept, stats = pruned(traces(), PruneParams(require_correct=False, max_per_question=0, deduplicate=False))
    assert len(kept) == 6 and stats["correct"] == 3


def test_prune_needs_the_verdicts_of_the_tasks_verifier():
    """No silent default: graded as numbers, a maths or code task's traces would all count as wrong."""
    with pytest.raises(TypeError, match="correct"):
        prune(traces(), PruneParams(), seed=0)
