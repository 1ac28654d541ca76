"""What every task's rows become: (question_id, question, answer, solution, difficulty).

Ids are content-addressed, numeric gold answers are written in one canonical form, and a worked
solution's difficulty is its number of steps: the same for every loader.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pandas as pd

from think_prune_train.errors import TaskError
from think_prune_train.tasks.files import Row
from think_prune_train.verify.numeric import MARKER, format_answer, parse_number

COLUMNS = ["question_id", "question", "answer", "solution", "difficulty"]


def question_id(task: str, question: str) -> str:
    """Content-addressed id: the same question gets the same id in every run and split."""
    return f"{task}-{hashlib.sha256(question.encode()).hexdigest()[:12]}"


def solution_steps(solution: str) -> int:
    """Reasoning steps in a worked solution: its non-empty lines before the `#### <answer>` line."""
    steps = solution.split(MARKER, 1)[0]
    return sum(1 for line in steps.splitlines() if line.strip())


# Gold answers are written out in full (format_answer never uses an exponent), so `1e999999999`
# would become a billion digits; no real answer comes near this many.
MAX_ANSWER_DIGITS = 1000


def canonical_answer(raw: object, where: str) -> str:
    text = str(raw).strip()
    shown = repr(text) if len(text) <= 60 else repr(text[:60]) + "..."
    value = parse_number(text)
    if value is None:
        raise TaskError(f"{where}: gold answer {shown} is not a number; fix or drop that row.")
    _, digits, exponent = value.as_tuple()
    if len(digits) + abs(exponent) > MAX_ANSWER_DIGITS:
        raise TaskError(
            f"{where}: gold answer {shown} has over {MAX_ANSWER_DIGITS} digits written out; a gold answer must be an "
            f"ordinary number: fix or drop that row."
        )
    return format_answer(value)


def records_of(
    rows: list[Row], parse: Callable[[str, dict], dict], max_question_chars: int, setting: str
) -> pd.DataFrame:
    """Parsed rows (question_id, question, answer, solution, difficulty), the first of any repeated question kept.

    `parse(where, row)` turns one row into a record or raises TaskError naming `where`.
    `setting` names the limit in the message, e.g. `prepare.max_question_chars`.
    """
    records = []
    for where, row in rows:
        record = parse(where, row)
        if len(record["question"]) > max_question_chars:
            raise TaskError(
                f"{where}: question is {len(record['question']):,} characters, over {setting}={max_question_chars:,}; "
                f"fix the row or raise the limit."
            )
        records.append(record)
    return pd.DataFrame(records, columns=COLUMNS).drop_duplicates("question").reset_index(drop=True)


