import pandas as pd
import pandera.pandas as pa
import pytest

from think_prune_train.artifacts import (
    DataContractError,
    Evaluations,
    Problems,
    Pruned,
    Traces,
    read_frame,
    write_frame,
)


def problems(**overrides):
    frame = pd.DataFrame(
        {"question_id": ["q1", "q2"], "question": ["1 + 2 =", "3 - 1 ="], "answer": ["3", "2"], "solution": ["", ""],
         "difficulty": [2, 2]}
    )
    return frame.assign(**overrides)


def test_valid_problems_round_trip(tmp_path):
    write_frame(problems(), tmp_path / "p.parquet", Problems)
    assert read_frame(tmp_path / "p.parquet", Problems).equals(problems())


@pytest.mark.parametrize(
    "bad, column",
    [
        (problems(question_id=["q1", "q1"]), "question_id"),  # duplicate id
        (problems(question_id=["q1", ""]), "question_id"),  # empty id
        (problems(answer=["3", ""]), "answer"),  # empty gold answer
        (problems(answer=["3", None]), "answer"),  # missing gold answer
        (problems().drop(columns="solution"), "solution"),  # missing column
        (problems(extra=[1, 2]), "extra"),  # unknown column
    ],
)
def test_schema_errors_name_the_column_and_leave_no_file(tmp_path, bad, column):
    target = tmp_path / "p.parquet"
    with pytest.raises(DataContractError) as error:
        write_frame(bad, target, Problems)
    assert column in str(error.value)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary left behind either


def test_error_names_file_and_rows(tmp_path):
    path = tmp_path / "bad.parquet"
    problems(answer=["3", ""]).to_parquet(path)
    with pytest.raises(DataContractError) as error:
        read_frame(path, Problems)
    message = str(error.value)
    assert str(path) in message and "rows 2" in message and "'answer'" in message  # the second row, counted from 1


def test_a_gold_answer_the_verifier_cannot_read_names_the_rows():
    """The schema takes any answer text; the task's verifier says what it can read (prepare, prune, evaluate check)."""
    from think_prune_train.errors import AnswerError
    from think_prune_train.params import VerifierParams
    from think_prune_train.verify.gold import check_answers

    answers = pd.Series(["3", "two", "\\frac{1}{2}"])
    with pytest.raises(AnswerError, match=r"data/x.parquet: rows 2, 3: the answer is not a number"):
        check_answers(answers, VerifierParams(kind="numeric"), "data/x.parquet")
    check_answers(answers, VerifierParams(kind="math"), "data/x.parquet")
    with pytest.raises(AnswerError, match="rows 1, 2, 3: the answer is not the tests of a code task"):
        check_answers(answers, VerifierParams(kind="code"), "data/x.parquet")


def test_unreadable_and_missing_files_are_reported(tmp_path):
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"\xff\xfe not parquet")
    with pytest.raises(DataContractError, match="not a readable parquet"):
        read_frame(garbage, Problems)
    with pytest.raises(DataContractError, match="does not exist"):
        read_frame(tmp_path / "missing.parquet", Problems)


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "p.parquet"
    write_frame(problems(), target, Problems)
    before = target.read_bytes()
    with pytest.raises(DataContractError):
        write_frame(problems(answer=["?", ""]), target, Problems)
    assert target.read_bytes() == before


def test_traces_pruned_and_evaluations_reject_bad_rows():
    traces = pd.DataFrame(
        {"round": ["r1"], "question_id": ["q"], "sample": [0], "seed": [1], "prompt": ["p"], "completion": ["c"], "answer": ["1"]}
    )
    Traces.validate(traces)
    with pytest.raises(pa.errors.SchemaError):
        Traces.validate(traces.assign(round=["round1"]))
    with pytest.raises(pa.errors.SchemaError):
        Traces.validate(pd.concat([traces, traces], ignore_index=True))  # duplicate (question, sample)
    pruned = traces.drop(columns=["seed", "answer"])
    Pruned.validate(pruned)
    with pytest.raises(pa.errors.SchemaError):
        Pruned.validate(pruned.assign(completion=[""]))  # nothing to train on
    evaluations = pd.DataFrame(
        {"round": ["r0"], "question_id": ["q"], "sample": [-1], "completion": ["#### 1"], "answer": ["1"],
         "predicted": ["1"], "correct": [True], "correct_flexible": [True], "difficulty": [2]}
    )
    Evaluations.validate(evaluations)
    with pytest.raises(pa.errors.SchemaError):
        Evaluations.validate(evaluations.assign(sample=[-2]))
