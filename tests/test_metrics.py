import json

import pandas as pd
import pytest

from think_prune_train.reporting.metrics import pass_at_k, summarize


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


def graded(difficulties: dict[str, int], correct: dict[tuple[str, int], bool]) -> pd.DataFrame:
    rows = [{"question_id": q, "sample": s, "correct": ok, "correct_flexible": ok, "completion": "x",
             "difficulty": difficulties[q]} for (q, s), ok in correct.items()]
    return pd.DataFrame(rows)


def test_metrics_per_difficulty_level():
    rows = graded(
        {"a": 2, "b": 3, "c": 3},
        {("a", 0): True, ("a", 1): True, ("a", -1): True,
         ("b", 0): False, ("b", 1): True, ("b", -1): False,
         ("c", 0): False, ("c", 1): False, ("c", -1): True},
    )
    metrics = summarize(rows, [1, 2])
    assert metrics["pass@1"] == round(3 / 6, 6)
    assert metrics["by_difficulty"]["2"]["pass@1"] == 1.0 and metrics["by_difficulty"]["2"]["questions"] == 1
    assert metrics["by_difficulty"]["3"]["pass@1"] == 0.25
    assert metrics["by_difficulty"]["3"]["greedy_accuracy"] == 0.5
    assert metrics["by_difficulty"]["3"]["pass@2_unbiased"] == 0.5


def test_report_rows_tables_and_fixed_path_summary(tmp_path):
    from think_prune_train.reporting.tables import COLUMNS, difficulty_markdown, extend, overview

    table = pd.DataFrame(columns=COLUMNS)
    for name, (overall, easy, hard) in {"r0": (0.4, 0.8, 0.2), "r1": (0.55, 0.9, 0.4)}.items():
        metrics = {"pass@1": overall, "pass@1_flexible": overall, "greedy_accuracy": overall + 0.1,
                   "by_difficulty": {"2": {"pass@1": easy, "greedy_accuracy": easy},
                                     "10": {"pass@1": hard, "greedy_accuracy": hard}}}
        (tmp_path / f"{name}.json").write_text(json.dumps(metrics))
        table = extend(table, name, tmp_path / f"{name}.json")
    assert list(table.columns) == COLUMNS + ["pass@1_d2", "greedy_d2", "pass@1_d10", "greedy_d10"]  # 2 before 10
    summary = overview(table)
    assert summary["final_round"] == 1 and summary["pass@1"] == 0.55 and summary["gain"] == 0.15
    assert summary["by_round"]["r0"] == {"pass@1": 0.4, "greedy": 0.5}
    assert summary["by_difficulty"] == {"d2": {"pass@1": 0.9, "greedy": 0.9}, "d10": {"pass@1": 0.4, "greedy": 0.4}}
    assert "| r1 | 90.0 / 90.0 | 40.0 / 40.0 |" in difficulty_markdown(table)
