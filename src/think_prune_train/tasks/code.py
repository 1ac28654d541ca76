"""Code questions: a procedural task for the tiny model (offline) and HumanEval/MBPP-shaped datasets.

A code question's `answer` is what the sandbox needs to grade a completion, as JSON text
(`code_answer`): the tests, the entry point (HumanEval's `check(candidate)` is called with it; None
for MBPP's plain asserts) and the prefix the completion continues (HumanEval's prompt; "" for
MBPP). What is graded is `verify.judge.judge_program(prefix + completion, tests, entry_point)`.

`function_from_examples` shows a few values of a hidden integer function, `f(2)=7 f(5)=16 f(0)=1`,
and asks for the function, `def f(x):\\n return 3*x+1`; hidden tests check held-out inputs too.
Every hidden function is a polynomial of degree at most two, and the question shows at least three
values, so exactly one function of the task's families fits the question: a wrong answer is wrong,
not an equally good reading of the examples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from think_prune_train.errors import TaskError
from think_prune_train.tasks.files import load_parts
from think_prune_train.tasks.records import question_id, records_of
from think_prune_train.tasks.splits import SPLITS, draw_splits, stratified_splits
from think_prune_train.verify.code import code_answer

TASK = "function_from_examples"


# --- function_from_examples -----------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """How a level's hidden functions and inputs are drawn."""

    families: tuple[str, ...]  # one is drawn uniformly; see `_draw_function`
    inputs: tuple[int, int]  # inclusive range of the inputs shown and tested
    shown: int  # values in the question (three pin down a polynomial of degree two)
    held_out: int  # further inputs only the tests check
    # Show at least one negative input: the level's skill, and it keeps level 3's `a*x+b`
    # questions from repeating level 2's word for word (a question has one level).
    negative_shown: bool = False
    # Inputs every question of the level shows first: f(0) gives the constant, f(1) - f(0) the slope.
    always_shown: tuple[int, ...] = ()


# Constants are 1-9 (2-9 for a factor, so no `1*x`), so one template per family: a tiny model
# learns one spelling. The levels add one skill each: copy the constant from f(0) (x+b); also
# subtract f(0) from f(1) for the slope (a*x+b); negative numbers and squares, with no f(0) to
# read; a three-coefficient quadratic from four values. Levels 1 and 2 are what the tiny default
# model can learn from its warm-up; 3 and 4 are what it mostly cannot yet.
LEVELS = {
    1: Level(("x+b",), (0, 49), shown=3, held_out=5, always_shown=(0,)),
    2: Level(("a*x+b",), (0, 49), shown=3, held_out=5, always_shown=(0, 1)),
    3: Level(("a*x+b", "a*x-b", "x*x+b", "x*x-b"), (-9, 9), shown=3, held_out=5, negative_shown=True),
    4: Level(("a*x*x+b*x+c",), (-5, 5), shown=4, held_out=5),
}


def _draw_function(family: str, rng: np.random.Generator) -> tuple[str, tuple[int, int, int]]:
    """A family's function as (expression, (square, linear, constant) coefficients)."""
    a, b, c = int(rng.integers(2, 10)), int(rng.integers(1, 10)), int(rng.integers(1, 10))
    if family == "x+b":
        return f"x+{b}", (0, 1, b)
    if family == "a*x+b":
        return f"{a}*x+{b}", (0, a, b)
    if family == "a*x-b":
        return f"{a}*x-{b}", (0, a, -b)
    if family == "x*x+b":
        return f"x*x+{b}", (1, 0, b)
    if family == "x*x-b":
        return f"x*x-{b}", (1, 0, -b)
    if family == "a*x*x+b*x+c":
        return f"{a}*x*x+{b}*x+{c}", (a, b, c)
    raise AssertionError(f"unknown family {family}")


def function_from_examples_item(level: int, seed: int, index: int) -> dict:
    """One question of `level`, drawn from (seed, index) alone: keys question, solution, answer, difficulty."""
    rule = LEVELS[level]
    rng = np.random.default_rng([seed, index, level])
    family = rule.families[int(rng.integers(len(rule.families)))]
    expression, (square, linear, constant) = _draw_function(family, rng)
    low, high = rule.inputs
    choices = np.array([x for x in range(low, high + 1) if x not in rule.always_shown])
    drawn = [int(x) for x in rng.choice(choices, size=rule.shown + rule.held_out - len(rule.always_shown), replace=False)]
    inputs = list(rule.always_shown) + drawn
    if rule.negative_shown and min(inputs[: rule.shown]) >= 0:
        # Swap the first shown input for a negative one not yet drawn.
        negatives = [x for x in range(low, 0) if x not in inputs]
        inputs[0] = negatives[int(rng.integers(len(negatives)))]
    shown, held_out = sorted(inputs[: rule.shown]), sorted(inputs[rule.shown :])
    value = {x: square * x * x + linear * x + constant for x in inputs}
    tests = "\n".join(f"assert f({x})=={value[x]}" for x in shown + held_out)
    return {
        "question": " ".join(f"f({x})={value[x]}" for x in shown),
        "solution": f"def f(x):\n return {expression}",
        "answer": code_answer(tests, None, ""),
        "difficulty": level,
    }


def _check_levels(levels: Sequence[int]) -> list[int]:
    levels = [int(level) for level in levels]
    unknown = sorted(set(levels) - set(LEVELS))
    if not levels or unknown:
        raise TaskError(
            f"{TASK}: levels must be a non-empty list drawn from {sorted(LEVELS)}, not {list(levels)!r}."
        )
    return sorted(set(levels))


def _draws(seed: int, levels: list[int], count: int):
    """`count` draws (repeats included): draw i picks its level, then its function, from (seed, i)."""
    for index in range(count):
        level = levels[int(np.random.default_rng([seed, index]).integers(len(levels)))]
        yield function_from_examples_item(level, seed, index)


def function_from_examples_splits(
    train_questions: int, test_questions: int, warmup_questions: int, seed: int, levels: Sequence[int] = tuple(LEVELS)
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Test, warm-up and training splits of `function_from_examples`, disjoint, with one level mix.

    As `tasks.reasoning_gym_splits` does, the natural mix is measured on every draw (repeats
    included), so a level with few distinct questions (level 1 has about 10,000) gets a smaller,
    equal share in every split instead of running out in one.
    """
    levels = _check_levels(levels)
    wanted = {"test": test_questions, "warmup": warmup_questions, "train": train_questions}
    total = sum(wanted.values())
    draws = 4 * total + 1000
    rows, seen, natural = [], set(), Counter()
    for item in _draws(seed, levels, draws):
        natural[item["difficulty"]] += 1
        if item["question"] in seen:
            continue
        seen.add(item["question"])
        rows.append({"question_id": question_id(TASK, item["question"]), **item})
    if len(rows) < total:
        raise TaskError(
            f"{TASK} at levels {levels} has only {len(rows)} distinct questions in {draws} draws (asked for {total}); "
            f"lower train_questions/test_questions/warmup_questions or add levels."
        )
    pool = pd.DataFrame(rows, columns=["question_id", "question", "answer", "solution", "difficulty"])
    shares = {level: count / draws for level, count in natural.items()}
    return stratified_splits({name: pool for name in SPLITS}, wanted, shares, seed, TASK)


# --- HumanEval- and MBPP-shaped datasets ----------------------------------------------------------

# Reference solutions of at most 2, 5, 10 or more non-empty lines: levels 1, 2, 3, 4.
LINE_BUCKETS = (2, 5, 10)
HUMANEVAL_KEYS = ("task_id", "prompt", "test", "entry_point", "canonical_solution")
MBPP_KEYS = ("task_id", "text", "code", "test_list")


def solution_level(solution: str) -> int:
    """Difficulty of a code question: its reference solution's non-empty lines, bucketed (1-4)."""
    lines = sum(1 for line in solution.splitlines() if line.strip())
    return 1 + sum(lines > bound for bound in LINE_BUCKETS)


def _text(row: dict, key: str, where: str, kind: str, allow_empty: bool = False) -> str:
    value = row.get(key)
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        got = "missing" if value is None else f"{type(value).__name__} {value!r:.60}"
        raise TaskError(f"{where}: {kind} row needs {key} as non-empty text, got {got}; fix or drop that row.")
    # MBPP's code has Windows line endings; the model should see one kind.
    return value.replace("\r\n", "\n")


def _humaneval_record(where: str, row: dict) -> dict:
    prompt = _text(row, "prompt", where, "HumanEval")
    tests = _text(row, "test", where, "HumanEval")
    solution = _text(row, "canonical_solution", where, "HumanEval")
    entry_point = _text(row, "entry_point", where, "HumanEval").strip()
    if not entry_point.isidentifier():
        raise TaskError(f"{where}: entry_point {entry_point!r:.60} is not a Python function name; fix that row.")
    return {
        "question_id": question_id("humaneval", prompt),
        "question": prompt,
        "answer": code_answer(tests, entry_point, prompt),
        "solution": solution,
        "difficulty": solution_level(solution),
    }


def _mbpp_record(where: str, row: dict) -> dict:
    # The original config calls the description `text`; the sanitized one calls it `prompt`.
    key = "prompt" if "text" not in row and "prompt" in row else "text"
    text = _text(row, key, where, "MBPP").strip()
    solution = _text(row, "code", where, "MBPP")
    asserts = row.get("test_list")
    if hasattr(asserts, "tolist"):  # a numpy array from a pandas-read parquet file
        asserts = asserts.tolist()
    if not isinstance(asserts, list) or not asserts or not all(isinstance(line, str) and line.strip()
                                                               for line in asserts):
        raise TaskError(f"{where}: MBPP row needs test_list as a non-empty list of assert lines, got {asserts!r:.80}.")
    asserts = [line.replace("\r\n", "\n").strip() for line in asserts]
    setup = row.get("test_setup_code") or ""
    imports = row.get("test_imports")
    if hasattr(imports, "tolist"):
        imports = imports.tolist()
    if not isinstance(setup, str) or not (imports is None or isinstance(imports, list)):
        raise TaskError(f"{where}: MBPP test_setup_code must be text and test_imports a list; fix that row.")
    setup_lines = [setup.replace("\r\n", "\n").strip()] + [str(line) for line in imports or []]
    tests = "\n".join([line for line in setup_lines if line] + asserts)
    # MBPP's prompt practice: the description and one test, which also fixes the function's name.
    question = f"{text}\n{asserts[0]}"
    return {
        "question_id": question_id("mbpp", question),
        "question": question,
        "answer": code_answer(tests, None, ""),
        "solution": solution,
        "difficulty": solution_level(solution),
    }


def code_record(where: str, row: dict) -> dict:
    """A HumanEval or MBPP row as a task record; TaskError naming `where` when it is neither."""
    if "entry_point" in row:
        return _humaneval_record(where, row)
    if "test_list" in row:
        return _mbpp_record(where, row)
    raise TaskError(
        f"{where}: neither a HumanEval row ({', '.join(HUMANEVAL_KEYS)}) nor an MBPP row ({', '.join(MBPP_KEYS)}); "
        f"it has {', '.join(sorted(row)) or 'no keys'}."
    )


def code_dataset_splits(
    source: str, train_questions: int, test_questions: int, warmup_questions: int, seed: int, max_question_chars: int
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Splits of a HumanEval- or MBPP-shaped dataset: a `.jsonl`/`.jsonl.gz`/`.parquet` file, a folder, or a hub id.

    With a test part (a `test.*` file, or the hub's `test` split beside others, as MBPP has) the
    test split comes from it and the warm-up and training splits from the rest; otherwise
    (HumanEval: 164 problems, one split) all three are drawn, disjoint, from one pool. Asking
    for more questions than there are is refused. Difficulty is the reference solution's length.
    """
    parts = load_parts(source)
    frames = {
        name: records_of(rows, code_record, max_question_chars, "max_question_chars") for name, rows in parts.items()
    }
    kinds = {question.split("-", 1)[0] for frame in frames.values() for question in frame["question_id"]}
    task = kinds.pop() if len(kinds) == 1 else "code"
    return draw_splits(task, frames, train_questions, test_questions, warmup_questions, seed)
