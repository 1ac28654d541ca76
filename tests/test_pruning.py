import pandas as pd

from think_prune_train.params import PruneParams
from think_prune_train.selection.prune import prune


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


def test_keeps_only_correct_deduplicated_and_capped():
    kept, stats = prune(traces(), PruneParams(max_per_question=2, deduplicate=True), seed=0)
    assert kept[["question_id", "sample"]].values.tolist() == [["q1", 0], ["q1", 3]]
    assert stats == {"traces": 7, "correct": 3, "kept": 2, "questions": 3, "questions_with_correct": 1,
                     "coverage": round(1 / 3, 6), "accuracy": round(3 / 7, 6)}


def test_options_change_the_selection():
    assert len(prune(traces(), PruneParams(max_per_question=0, deduplicate=False), seed=0)[0]) == 3
    assert len(prune(traces(), PruneParams(max_per_question=1), seed=0)[0]) == 1
    flexible, _ = prune(traces(), PruneParams(grading="flexible", max_per_question=0), seed=0)
    assert "q3" in set(flexible["question_id"])
    capped, _ = prune(traces(), PruneParams(max_per_question=0, deduplicate=False, max_examples=2), seed=0)
    assert len(capped) == 2


def test_no_pruning_control_keeps_wrong_traces_but_not_empty_ones():
    kept, stats = prune(traces(), PruneParams(require_correct=False, max_per_question=0, deduplicate=False), seed=0)
    assert len(kept) == 6 and stats["correct"] == 3
