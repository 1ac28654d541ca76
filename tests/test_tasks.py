import json

import pytest

from think_prune_train.grading import is_correct
from think_prune_train.params import PrepareParams
from think_prune_train.tasks import TaskError, chain_solution, load_splits


def test_chain_solution_is_step_by_step_and_correct():
    assert chain_solution("12 - 4 + 7") == "12 - 4 = 8\n8 + 7 = 15\n#### 15"
    assert chain_solution("12 - 4 + 7", compact=True) == "12-4=8\n8+7=15\n####15"
    assert is_correct(chain_solution("3 - 9", compact=True), "-6")
    with pytest.raises(TaskError):
        chain_solution("2 * 3")


@pytest.mark.parametrize("task, options", [("chain_sum", {"min_terms": 2, "max_terms": 4, "max_digits": 1}), ("gsm_symbolic", {})])
def test_reasoning_gym_splits_are_disjoint_and_graded_by_their_solutions(task, options):
    params = PrepareParams(task=task, task_options=options, train_questions=40, test_questions=20, warmup_questions=10)
    splits = load_splits(params, seed=3)
    assert {name: len(frame) for name, frame in splits.items()} == {"test": 20, "warmup": 10, "train": 40}
    questions = [set(frame["question"]) for frame in splits.values()]
    assert not (questions[0] & questions[1] or questions[0] & questions[2] or questions[1] & questions[2])
    for _, row in splits["warmup"].iterrows():
        assert is_correct(row["solution"], row["answer"])
    assert load_splits(params, seed=3)["test"].equals(splits["test"])  # same seed, same questions


def test_too_few_distinct_questions_says_what_to_change():
    params = PrepareParams(task="chain_sum", task_options={"min_terms": 2, "max_terms": 2, "max_digits": 1},
                           train_questions=500, test_questions=100)
    with pytest.raises(TaskError, match="distinct questions"):
        load_splits(params, seed=0)


def test_unknown_task_is_reported():
    with pytest.raises(Exception, match="not_a_task"):
        load_splits(PrepareParams(task="not_a_task"), seed=0)


def test_gsm8k_from_a_local_folder(gsm8k_dir):
    params = PrepareParams(task="gsm8k", source=str(gsm8k_dir), train_questions=100, test_questions=50, warmup_questions=10)
    splits = load_splits(params, seed=0)
    assert len(splits["test"]) == 50 and len(splits["train"]) == 100
    assert not set(splits["test"]["question"]) & set(splits["train"]["question"])
    assert all(is_correct(s, a) for s, a in zip(splits["train"]["solution"], splits["train"]["answer"]))
    again = load_splits(params, seed=0)
    assert again["test"]["question_id"].tolist() == splits["test"]["question_id"].tolist()
    assert load_splits(params, seed=1)["test"]["question_id"].tolist() != splits["test"]["question_id"].tolist()


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"question": "q"}', "row 1: missing question or answer"),
        ('{"question": "", "answer": "#### 1"}', "row 1: missing question or answer"),
        ('{"question": "q", "answer": "no marker"}', "has no '####"),
        ('{"question": "q", "answer": "#### seven"}', "not a number"),
        ("{not json", "not valid JSON"),
    ],
)
def test_gsm8k_bad_files_name_file_and_row(tmp_path, line, message):
    good = json.dumps({"question": "What is 1 + 1?", "answer": "1 + 1 = 2\n#### 2"})
    (tmp_path / "train.jsonl").write_text(good + "\n" + line + "\n")
    (tmp_path / "test.jsonl").write_text(good + "\n")
    params = PrepareParams(task="gsm8k", source=str(tmp_path), train_questions=1, test_questions=1)
    with pytest.raises(TaskError, match=message) as error:
        load_splits(params, seed=0)
    assert "train.jsonl" in str(error.value)


def test_gsm8k_file_without_answer_column(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"question": "q"}\n')
    (tmp_path / "test.jsonl").write_text('{"question": "q"}\n')
    with pytest.raises(TaskError, match="missing column"):
        load_splits(PrepareParams(task="gsm8k", source=str(tmp_path), train_questions=1, test_questions=1), seed=0)


def test_gsm8k_non_utf8_file(tmp_path):
    (tmp_path / "train.jsonl").write_bytes(b'{"question": "caf\xe9", "answer": "#### 1"}\n')
    (tmp_path / "test.jsonl").write_text('{"question": "q", "answer": "#### 1"}\n')
    with pytest.raises(TaskError, match="UTF-8"):
        load_splits(PrepareParams(task="gsm8k", source=str(tmp_path), train_questions=1, test_questions=1), seed=0)
