import json
from pathlib import Path

import pytest

from think_prune_train.errors import TaskError
from think_prune_train.params import ParamsError, PrepareParams, load_section
from think_prune_train.tasks import load_splits, split_with_mix
from think_prune_train.tasks.reasoning_gym import chain_solution, difficulty_of
from think_prune_train.tasks.records import solution_steps
from think_prune_train.tasks.splits import allocate, water_fill
from think_prune_train.verify.numeric import is_correct


def test_chain_solution_is_step_by_step_and_correct():
    assert chain_solution("12 - 4 + 7") == "12 - 4 = 8\n8 + 7 = 15\n#### 15"
    assert chain_solution("12 - 4 + 7", compact=True) == "12-4=8\n8+7=15\n####15"
    assert is_correct(chain_solution("3 - 9", compact=True), "-6")
    with pytest.raises(TaskError):
        chain_solution("2 * 3")


def test_the_rewrite_style_rewrites_the_rest_of_the_chain_each_line():
    assert chain_solution("12 - 4 + 7 - 1", style="rewrite") == "8 + 7 - 1\n15 - 1\n14\n#### 14"
    assert chain_solution("-3 - 9", compact=True, style="rewrite") == "-12\n####-12"
    for expression in ("1 + 2", "9 - 8 - 7 + 1 - 8 + 0 - 9 + 5 - 3"):
        rewritten = chain_solution(expression, compact=True, style="rewrite")
        assert rewritten.count("\n") == chain_solution(expression, compact=True).count("\n")  # a line a step
        assert rewritten.rsplit("####", 1)[1] == chain_solution(expression, compact=True).rsplit("####", 1)[1]
    with pytest.raises(TaskError, match="unknown worked-solution style"):
        chain_solution("1 + 2", style="prose")


def test_the_solution_style_is_checked_and_reaches_the_warmup():
    with pytest.raises(ParamsError, match="solution_style"):
        load_section("prepare", {"prepare": {"solution_style": "prose"}})
    with pytest.raises(ParamsError, match="solution_style.*chain_sum"):
        load_section("prepare", {"prepare": {"task": "gsm_symbolic", "solution_style": "rewrite"}})
    params = PrepareParams(task="chain_sum", task_options={"min_terms": 3, "max_terms": 4, "max_digits": 1},
                           compact=True, train_questions=10, test_questions=5, warmup_questions=10,
                           solution_style="rewrite")
    warmup = load_splits(params, seed=3)["warmup"]
    for _, row in warmup.iterrows():
        assert "=" not in row["solution"] and is_correct(row["solution"], row["answer"])
        assert row["solution"].splitlines()[0] != row["question"]


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
    with pytest.raises(TaskError, match="prepare.task='not_a_task'.*not registered"):
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
        ('{"question": "q"}', "train.jsonl:2: missing question or answer"),
        ('{"question": "", "answer": "#### 1"}', "train.jsonl:2: missing question or answer"),
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


# --- one difficulty mix across the splits ---------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
# The groups whose default source is the hub (GSM8K, MATH-500, HumanEval, MBPP) are tested on local files elsewhere.
HUB_TASKS = ("gsm8k", "math", "humaneval", "mbpp")
OFFLINE_TASKS = sorted(path.stem for path in (REPO / "conf" / "task").glob("*.yaml") if path.stem not in HUB_TASKS)
# The model group each task is meant with (README); the default model otherwise.
MODEL_FOR_TASK = {"chain_sum_easy": "smollm2-135m"}


def task_config(task: str) -> PrepareParams:
    """The `prepare` section Hydra composes for `task=<task>` (and its model), as `dvc exp run` would."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    overrides = [f"task={task}"] + ([f"model={MODEL_FOR_TASK[task]}"] if task in MODEL_FOR_TASK else [])
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        config = compose(config_name="config", overrides=overrides)
    return load_section("prepare", {"prepare": OmegaConf.to_container(config.prepare, resolve=True)})


def assert_one_mix(splits: dict, tolerance_questions: int = 1) -> None:
    """Every split holds each difficulty level's share of the smallest split to within rounding."""
    levels = sorted(set().union(*(set(frame["difficulty"]) for frame in splits.values())))
    sizes = {name: len(frame) for name, frame in splits.items() if len(frame)}
    smallest = min(sizes.values())
    for level in levels:
        shares = {name: float((splits[name]["difficulty"] == level).mean()) for name in sizes}
        spread = max(shares.values()) - min(shares.values())
        assert spread <= (tolerance_questions + 1) / smallest, (level, shares)


@pytest.mark.parametrize("task", OFFLINE_TASKS)
def test_every_offline_task_config_splits_with_one_difficulty_mix(task):
    """The configured task at its configured split sizes (the default's 39,200 questions included)."""
    params = task_config(task)
    splits, mix = split_with_mix(params, seed=0)
    assert {name: len(frame) for name, frame in splits.items()} == {
        "test": params.test_questions, "warmup": params.warmup_questions, "train": params.train_questions}
    assert_one_mix(splits)
    assert sum(mix["mix"].values()) == pytest.approx(1.0, abs=1e-5)
    for name, frame in splits.items():
        assert mix["splits"][name] == {str(k): int(v) for k, v in sorted(frame["difficulty"].value_counts().items())}


def test_a_level_with_few_distinct_questions_gets_an_equal_small_share_everywhere():
    """Two one-digit terms have only 200 distinct questions: before, the test set took 48 of them
    (24 %) and the training pool almost none. Now every split gets the same small share."""
    params = PrepareParams(task="chain_sum", task_options={"min_terms": 2, "max_terms": 5, "max_digits": 1},
                           train_questions=9000, test_questions=200, warmup_questions=30000)
    splits, mix = split_with_mix(params, seed=0)
    assert mix["natural"]["2"] == pytest.approx(0.25, abs=0.01)
    assert mix["mix"]["2"] == pytest.approx(200 / 39200, abs=1e-4)
    assert [int((frame["difficulty"] == 2).sum()) for frame in splits.values()] == [1, 153, 46]
    questions = [set(frame["question"]) for frame in splits.values()]
    assert sum(map(len, questions)) == len(set().union(*questions))  # still disjoint


def test_difficulty_counts_terms_or_solution_steps():
    assert difficulty_of({"num_terms": 4}, "") == 4
    assert difficulty_of({}, "a = 1\nb = 2\n\n#### 3") == 2
    assert difficulty_of({"difficulty": 1.0}, "") == 0
    assert solution_steps("#### 3") == 0


def test_water_fill_keeps_the_natural_mix_where_it_fits_and_caps_small_levels():
    assert water_fill({1: 0.5, 2: 0.5}, {1: 1.0, 2: 1.0}) == {1: 0.5, 2: 0.5}
    mix = water_fill({1: 0.25, 2: 0.25, 3: 0.5}, {1: 0.05, 2: 1.0, 3: 1.0})
    assert mix[1] == 0.05 and mix[3] == pytest.approx(2 * mix[2]) and sum(mix.values()) == pytest.approx(1.0)
    with pytest.raises(TaskError):
        water_fill({1: 0.5, 2: 0.5}, {1: 0.2, 2: 0.2})
    assert allocate({1: 0.5, 2: 0.25, 3: 0.25}, 7) == {1: 3, 2: 2, 3: 2}  # largest remainders


def test_gsm8k_splits_share_one_mix_of_solution_steps(gsm8k_dir):
    params = PrepareParams(task="gsm8k", source=str(gsm8k_dir), train_questions=2000, test_questions=500, warmup_questions=500)
    splits, mix = split_with_mix(params, seed=0)
    assert set(mix["mix"]) >= {"2", "3", "4", "5"}
    assert_one_mix(splits)
