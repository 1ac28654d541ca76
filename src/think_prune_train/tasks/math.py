"""Competition maths questions in the MATH layout (MATH, MATH-500): problem, worked solution, level.

A row's gold `answer` is LaTeX text, the row's own `answer` where it has one (MATH-500 does), else
the content of its solution's last `\\boxed{}`; the verifier (`math_answers`) compares a completion's
final answer with it. The worked solution is kept for the warm-up, and the difficulty is MATH's
level (1-5; 0 where a row has none, or MATH's few "Level ?").
"""

from __future__ import annotations

import re

import pandas as pd

from think_prune_train.errors import TaskError
from think_prune_train.tasks.files import load_parts
from think_prune_train.tasks.records import question_id, records_of
from think_prune_train.tasks.splits import draw_splits
from think_prune_train.verify.math import extract_boxed

DEFAULT_SOURCE = "HuggingFaceH4/MATH-500"
# MATH's levels are 1-5; a difficulty is stored as a 64-bit integer and reported per level.
MAX_LEVEL = 100
LEVEL = re.compile(r"(?:level\s*)?(\d+|\?)", re.IGNORECASE)


def _level(value: object, where: str) -> int:
    level = _read_level(value, where)
    if not 0 <= level <= MAX_LEVEL:
        raise TaskError(f"{where}: level {str(level)[:40]} is not between 0 and {MAX_LEVEL}; fix that row or drop its level.")
    return level


def _read_level(value: object, where: str) -> int:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return 0
    if isinstance(value, bool):
        raise TaskError(f"{where}: level must be a number or text such as 'Level 3', not {value!r}.")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():  # a level column pandas read as floats
        return int(value)
    match = LEVEL.fullmatch(str(value).strip())
    if match is None:
        raise TaskError(f"{where}: level {value!r:.40} is not a number or 'Level <n>'; fix that row or drop its level.")
    return 0 if match.group(1) == "?" else int(match.group(1))


def math_record(where: str, row: dict) -> dict:
    """A MATH-style row as a task record; TaskError naming `where` when it cannot be one."""
    problem, solution = row.get("problem"), row.get("solution")
    if not isinstance(problem, str) or not problem.strip():
        raise TaskError(
            f"{where}: a MATH row needs problem as non-empty text, got {problem!r:.60}; fix or drop that row."
        )
    if solution is not None and not isinstance(solution, str):
        raise TaskError(f"{where}: solution must be text, got {type(solution).__name__}; fix or drop that row.")
    answer = row.get("answer")
    if answer is not None and not isinstance(answer, (str, int)):
        raise TaskError(f"{where}: answer must be text, got {type(answer).__name__}; fix or drop that row.")
    answer = str(answer).strip() if answer is not None else ""
    if not answer:
        answer = extract_boxed(solution or "") or ""
    if not answer:
        raise TaskError(
            f"{where}: no answer: the row has no answer field and its solution no complete \\boxed{{...}}; "
            f"fix or drop that row."
        )
    return {
        "question_id": question_id("math", problem.strip()),
        "question": problem.strip(),
        "answer": answer,
        "solution": (solution or "").strip(),
        "difficulty": _level(row.get("level"), where),
    }


def math_splits(
    source: str | None,
    train_questions: int,
    test_questions: int,
    warmup_questions: int,
    seed: int,
    max_question_chars: int,
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Splits of a MATH-style dataset: a `.jsonl`/`.parquet` file, a folder, or a hub id (default MATH-500).

    With train and test parts (files named `test.*` beside others, or hub splits) the test split
    comes from the test part; MATH-500 has only a test split, so then all three are drawn,
    disjoint, from it. Asking for more questions than there are is refused.
    """
    parts = load_parts(source or DEFAULT_SOURCE)
    frames = {
        name: records_of(rows, math_record, max_question_chars, "max_question_chars") for name, rows in parts.items()
    }
    return draw_splits("math", frames, train_questions, test_questions, warmup_questions, seed)
