import pandas as pd
import pytest

from think_prune_train.metrics import pass_at_k, summarize


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (10, 0, 1, 0.0),
        (10, 10, 5, 1.0),
        (10, 3, 1, 0.3),  # pass@1 is the fraction correct
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (5, 2, 3, 0.9),  # 1 - C(3,3)/C(5,3) = 1 - 1/10
        (10, 2, 5, 1 - 56 / 252),  # 1 - C(8,5)/C(10,5)
        (3, 2, 2, 1.0),  # fewer wrong samples than k
    ],
)
def test_pass_at_k_matches_hand_computed_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_summarize_separates_greedy_from_sampled():
    rows = pd.DataFrame(
        {
            "question_id": ["a"] * 5 + ["b"] * 5,
            "sample": [-1, 0, 1, 2, 3] * 2,
            "completion": ["x"] * 10,
            "correct": [True, True, False, False, False, False, True, True, True, True],
            "correct_flexible": [True] * 10,
        }
    )
    metrics = summarize(rows, [1, 4])
    assert metrics["pass@1"] == pytest.approx(5 / 8)
    assert metrics["greedy_accuracy"] == pytest.approx(0.5)
    assert metrics["pass@4_unbiased"] == pytest.approx(1.0)
    assert metrics["questions"] == 2 and metrics["samples_per_question"] == 4
