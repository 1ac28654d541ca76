"""MATH-style questions: gold answers from the answer field or the last box, levels, sources, bad rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from think_prune_train.errors import TaskError
from think_prune_train.tasks.math import math_record, math_splits
from think_prune_train.verify.math import extract_boxed

FIXTURES = Path(__file__).parent / "fixtures" / "math"


def all_rows(splits: dict) -> pd.DataFrame:
    return pd.concat(list(splits.values()), ignore_index=True)


def test_a_folder_with_train_and_test_files():
    splits, mix = math_splits(str(FIXTURES), train_questions=15, test_questions=8, warmup_questions=5, seed=0,
                              max_question_chars=500)
    assert {name: len(frame) for name, frame in splits.items()} == {"test": 8, "warmup": 5, "train": 15}
    test_file = [json.loads(line) for line in (FIXTURES / "test.jsonl").read_text().splitlines()]
    assert set(splits["test"]["question"]) <= {row["problem"] for row in test_file}
    assert not set(splits["test"]["question"]) & set(all_rows({k: splits[k] for k in ("warmup", "train")})["question"])
    assert not set(splits["warmup"]["question"]) & set(splits["train"]["question"])
    frame = all_rows(splits)
    assert set(frame["difficulty"]) == {1, 2, 3, 4, 5}
    assert frame["question_id"].str.startswith("math-").all() and frame["question_id"].is_unique
    # The training file has no answer field: its answers are the solutions' last boxes.
    by_question = dict(zip(frame["question"], frame["answer"]))
    assert by_question["Simplify $\\frac{6}{8}$."] == "\\frac{3}{4}"
    roots = "Find all real $x$ such that $x^2 = 2x + 8$. Enter the solutions separated by commas."
    assert by_question[roots] == "-2, 4"
    assert all(extract_boxed(solution) == answer for solution, answer in zip(frame["solution"], frame["answer"]))
    again, _ = math_splits(str(FIXTURES), 15, 8, 5, seed=0, max_question_chars=500)
    assert all(again[name].equals(splits[name]) for name in splits)


def test_one_file_is_split_three_ways(tmp_path):
    """MATH-500 has only a test split: all three splits come from it, disjoint."""
    source = tmp_path / "math500.jsonl"
    shutil.copy(FIXTURES / "test.jsonl", source)
    splits, mix = math_splits(str(source), train_questions=5, test_questions=3, warmup_questions=2, seed=1,
                              max_question_chars=500)
    questions = [set(frame["question"]) for frame in splits.values()]
    assert sum(map(len, questions)) == 10 == len(set().union(*questions))
    with pytest.raises(TaskError, match=r"math has 10 distinct questions for the test \+ warm-up \+ train split"):
        math_splits(str(source), train_questions=6, test_questions=3, warmup_questions=2, seed=1,
                    max_question_chars=500)


def test_parquet_files_read_like_jsonl(tmp_path):
    for name in ("train", "test"):
        rows = [json.loads(line) for line in (FIXTURES / f"{name}.jsonl").read_text().splitlines()]
        pd.DataFrame(rows).to_parquet(tmp_path / f"{name}.parquet")
    from_parquet, _ = math_splits(str(tmp_path), 10, 5, 5, seed=0, max_question_chars=500)
    from_jsonl, _ = math_splits(str(FIXTURES), 10, 5, 5, seed=0, max_question_chars=500)
    assert all(from_parquet[name].equals(from_jsonl[name]) for name in from_jsonl)


def test_too_many_questions_is_refused_per_part():
    with pytest.raises(TaskError, match=r"math has 10 distinct questions for the test split\(s\); 11 were asked for"):
        math_splits(str(FIXTURES), train_questions=1, test_questions=11, warmup_questions=0, seed=0,
                    max_question_chars=500)
    with pytest.raises(TaskError, match=r"22 distinct questions for the warm-up \+ train split\(s\); 23 were asked"):
        math_splits(str(FIXTURES), train_questions=20, test_questions=1, warmup_questions=3, seed=0,
                    max_question_chars=500)


def test_answers_and_levels_in_every_layout():
    record = math_record("x", {"problem": "p", "solution": "So $\\boxed{\\{1,2\\}}$.", "level": "Level 4"})
    assert (record["answer"], record["difficulty"]) == ("\\{1,2\\}", 4)
    record = math_record("x", {"problem": "p", "solution": "no box", "answer": "\\frac{1}{2}", "level": 2})
    assert (record["answer"], record["difficulty"]) == ("\\frac{1}{2}", 2)
    assert math_record("x", {"problem": "p", "solution": "$\\boxed{3}$", "level": "Level ?"})["difficulty"] == 0
    assert math_record("x", {"problem": "p", "solution": "$\\boxed{3}$"})["difficulty"] == 0
    assert math_record("x", {"problem": "p", "solution": "$\\boxed{3}$", "level": 5.0})["difficulty"] == 5
    # An empty answer field falls back to the box, as a missing one does.
    assert math_record("x", {"problem": "p", "solution": "$\\boxed{3}$", "answer": ""})["answer"] == "3"


@pytest.mark.parametrize(
    "row, message",
    [
        ({"problem": "What is 1+1?", "solution": "It is 2."}, "no answer: the row has no answer field"),
        ({"problem": "What is 1+1?", "solution": "So $\\boxed{2"}, "no complete \\\\boxed"),
        ({"problem": "", "solution": "$\\boxed{2}$"}, "needs problem as non-empty text"),
        ({"problem": "What is 1+1?", "solution": "$\\boxed{2}$", "level": "hard"}, "level 'hard' is not a number"),
        ({"problem": "What is 1+1?", "solution": ["$\\boxed{2}$"]}, "solution must be text"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, row, message):
    (tmp_path / "train.jsonl").write_text((FIXTURES / "train.jsonl").read_text() + json.dumps(row) + "\n")
    shutil.copy(FIXTURES / "test.jsonl", tmp_path / "test.jsonl")
    with pytest.raises(TaskError, match=message) as error:
        math_splits(str(tmp_path), 1, 1, 0, seed=0, max_question_chars=500)
    assert f"{tmp_path / 'train.jsonl'}:23" in str(error.value)


def test_bad_sources_and_long_questions_are_named(tmp_path):
    with pytest.raises(TaskError, match="does not exist"):
        math_splits(str(tmp_path / "nowhere"), 1, 1, 0, seed=0, max_question_chars=500)
    with pytest.raises(TaskError, match="holds no .jsonl"):
        math_splits(str(tmp_path), 1, 1, 0, seed=0, max_question_chars=500)
    (tmp_path / "rows.jsonl").write_text('["problem", "solution"]\n')
    with pytest.raises(TaskError, match=r"rows.jsonl:1: a JSON list; each line must be a JSON object"):
        math_splits(str(tmp_path / "rows.jsonl"), 1, 1, 0, seed=0, max_question_chars=500)
    with pytest.raises(TaskError, match=r"math/test.jsonl:2: question is 37 characters, over max_question_chars=30"):
        math_splits(str(FIXTURES), 1, 1, 0, seed=0, max_question_chars=30)


def test_an_unreachable_hub_id_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(TaskError, match="cannot load hub dataset 'no-such-owner/no-such-math'.*local .jsonl/.parquet"):
        math_splits("no-such-owner/no-such-math", 1, 1, 0, seed=0, max_question_chars=500)
