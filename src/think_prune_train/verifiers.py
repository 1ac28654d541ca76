"""Ground truth beyond numbers: one verdict on a completion against its question's answer.

Prune and evaluate both call `grade`, so what training keeps and what evaluation counts is judged
the same way. The task decides the verifier (`verifier.kind` in its config):

- `numeric`: the number after the last `####` (strict) or the last number anywhere (flexible),
  compared exactly; GSM8K and chain_sum (think_prune_train.grading, unchanged).
- `math`: LaTeX answers through math-verify (think_prune_train.math_answers): the completion's
  last `\\boxed{}`, else its `####` line, else math-verify's own search, against the gold LaTeX.
  `\\frac{1}{2}` equals `0.5`, `\\sqrt{8}` equals `2\\sqrt{2}`. There is no separate flexible
  reading: math-verify's is already lenient, so both columns hold the same verdict.
- `reasoning_gym`: the answer holds the reasoning-gym item (`entry_answer`); the text after the
  completion's last `####` (strict) or its last line (flexible) is scored by the dataset's own
  `score_answer`, and counts when it scores 1.
- `code`: the answer holds tests (think_prune_train.code_tasks encodes them); the completion,
  after the task's prefix, runs against them in the sandbox (think_prune_train.sandbox), never in
  this process. Strict runs the completion as written; flexible runs the last fenced code block
  when the completion has one (chat models wrap code in ```python fences).
"""

from __future__ import annotations

import json
import os
import re

import pandas as pd

from think_prune_train.grading import extract_answer, format_answer, is_correct, parse_number
from think_prune_train.params import VerifierParams

GRADE_COLUMNS = ["predicted", "correct", "correct_flexible"]
# `predicted` is for reading the rows; a long maths answer is cut to this many characters.
MAX_PREDICTED_CHARS = 200
FENCED_CODE = re.compile(r"```[A-Za-z0-9_+-]*\n(.*?)```", re.DOTALL)


class AnswerError(ValueError):
    """A gold answer the task's verifier cannot read (the message names the rows)."""


def grade(completions: list[str], answers: list[str], verifier: VerifierParams, progress: str | None = None) -> pd.DataFrame:
    """`predicted`, `correct` (strict) and `correct_flexible` for each (completion, gold answer)."""
    completions, answers = list(completions), list(answers)
    if verifier.kind == "numeric":
        graded = _numeric(completions, answers)
    elif verifier.kind == "math":
        graded = _math(completions, answers, verifier)
    elif verifier.kind == "code":
        graded = _code(completions, answers, verifier, progress)
    elif verifier.kind == "reasoning_gym":
        graded = _reasoning_gym(completions, answers)
    else:
        raise ValueError(f"unknown verifier {verifier.kind!r}")
    return pd.DataFrame(graded, columns=GRADE_COLUMNS)


def check_answers(answers: pd.Series, verifier: VerifierParams, where: str) -> None:
    """Refuse gold answers the verifier cannot read, naming the first rows, before anything is graded."""
    read, hint = _gold_reader(verifier.kind)
    bad = []
    for index, answer in answers.items():
        try:
            read(str(answer))
        except ValueError:
            bad.append(index)
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise AnswerError(f"{where}: rows {shown}: the answer is not {hint}; fix those rows or the task's verifier.")


def _gold_reader(kind: str):
    """(a function raising ValueError on a gold answer the `kind` verifier cannot read, what it expects)."""
    if kind == "numeric":
        def read_number(text: str) -> None:
            if parse_number(text) is None:
                raise ValueError("not a number")

        return read_number, "a number (the task's verifier is numeric; set verifier.kind for LaTeX or code answers)"
    if kind == "code":
        from think_prune_train.code_tasks import parse_code_answer

        return parse_code_answer, "the tests of a code task (think_prune_train.code_tasks.code_answer)"
    if kind == "reasoning_gym":
        return parse_entry_answer, "a reasoning-gym item (prepare writes one for verifier.kind=reasoning_gym)"

    def read_latex(text: str) -> None:
        if not text.strip():
            raise ValueError("empty")

    return read_latex, "a LaTeX answer"


def _workers(verifier: VerifierParams) -> int:
    return verifier.workers or os.cpu_count() or 1


def _numeric(completions: list[str], answers: list[str]) -> list[tuple]:
    rows = []
    for completion, answer in zip(completions, answers):
        value, truth = extract_answer(completion), parse_number(answer)
        # Strict correctness from the answer extracted above; the flexible reading extracts its own.
        rows.append((format_answer(value) if value is not None else None,
                     value is not None and value == truth, is_correct(completion, answer, "flexible")))
    return rows


def _math(completions: list[str], answers: list[str], verifier: VerifierParams) -> list[tuple]:
    from think_prune_train.math_answers import grade_many, prediction_text

    verdicts = grade_many(zip(completions, answers), verifier.timeout_s, _workers(verifier))
    return [(prediction_text(completion).strip()[:MAX_PREDICTED_CHARS] or None, verdict, verdict)
            for completion, verdict in zip(completions, verdicts)]


def fenced_code(completion: str) -> str | None:
    """The last ```-fenced block of a completion, or None when it has none."""
    blocks = FENCED_CODE.findall(completion)
    return blocks[-1] if blocks else None


def _code(completions: list[str], answers: list[str], verifier: VerifierParams, progress: str | None) -> list[tuple]:
    from think_prune_train.code_tasks import parse_code_answer
    from think_prune_train.sandbox import Limits, program_for, run_many

    limits = Limits(
        timeout_seconds=verifier.timeout_s, cpu_seconds=max(1, int(verifier.timeout_s)),
        memory_bytes=verifier.memory_mb << 20, isolation=verifier.isolation,
    )
    programs: dict[str, int] = {}  # each distinct program runs once (repeated samples are common)
    plans = []
    for completion, answer in zip(completions, answers):
        tests, entry_point, prefix = parse_code_answer(answer)
        fenced = fenced_code(completion)
        strict = program_for(prefix + completion, tests, entry_point)
        flexible = program_for(prefix + fenced, tests, entry_point) if fenced is not None else strict
        plans.append((programs.setdefault(strict, len(programs)), programs.setdefault(flexible, len(programs))))
    outcomes = run_many(list(programs), limits, _workers(verifier), progress=progress and f"{progress} (sandbox)")
    return [(outcomes[strict].status, outcomes[strict].passed, outcomes[flexible].passed) for strict, flexible in plans]


def entry_answer(task: str, entry: dict, where: str) -> str:
    """A reasoning-gym item as an answer: the dataset's name and the item, as JSON.

    Refused (naming `where`) when the item does not survive JSON, or its own answer does not
    score 1 after the round trip: the scorer could then not be trusted on it.
    """
    import reasoning_gym

    try:
        text = json.dumps({"task": task, "entry": entry}, sort_keys=True)
        restored = json.loads(text)["entry"]
        perfect = reasoning_gym.get_score_answer_fn(task)(answer=str(entry["answer"]), entry=restored) >= 1.0
    except (TypeError, ValueError, KeyError) as error:
        raise AnswerError(f"{where}: the {task} item cannot be stored for its own scorer ({error}); use another "
                          f"verifier.kind for this task.") from None
    if not perfect:
        raise AnswerError(f"{where}: {task}'s own scorer does not accept the item's answer after storing it; use "
                          f"another verifier.kind for this task.")
    return text


def parse_entry_answer(text: str) -> tuple[str, dict]:
    """(dataset name, item) from `entry_answer`'s text; ValueError when it is not one."""
    value = json.loads(text)
    if not isinstance(value, dict) or set(value) != {"task", "entry"} or not isinstance(value["entry"], dict):
        raise ValueError("not a reasoning-gym answer: expected {task, entry}")
    return value["task"], value["entry"]


def _reasoning_gym(completions: list[str], answers: list[str]) -> list[tuple]:
    import reasoning_gym

    from think_prune_train.grading import MARKER

    rows = []
    for completion, answer in zip(completions, answers):
        task, entry = parse_entry_answer(answer)
        score = reasoning_gym.get_score_answer_fn(task)
        strict = completion.rsplit(MARKER, 1)[1].strip() if MARKER in completion else None
        lines = [line.strip() for line in completion.strip().splitlines() if line.strip()]
        flexible = strict if strict is not None else (lines[-1] if lines else None)

        def scores(text: str | None) -> bool:
            return text is not None and score(answer=text, entry=entry) >= 1.0

        rows.append(((flexible or "")[:MAX_PREDICTED_CHARS] or None, scores(strict), scores(flexible)))
    return rows
