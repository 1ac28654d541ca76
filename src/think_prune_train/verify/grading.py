"""One verdict on a completion against its question's answer: `grade`, for every verifier.

Prune and evaluate both call `grade`, so what training keeps and what evaluation counts is judged
the same way. The task decides the verifier (`verifier.kind` in its config):

- `numeric`: the number after the last `####` (strict) or the last number anywhere (flexible),
  compared exactly; GSM8K and chain_sum (think_prune_train.verify.numeric, unchanged).
- `math`: LaTeX answers through math-verify (think_prune_train.verify.math): the completion's
  last `\\boxed{}`, else its `####` line, else math-verify's own search, against the gold LaTeX.
  `\\frac{1}{2}` equals `0.5`, `\\sqrt{8}` equals `2\\sqrt{2}`. There is no separate flexible
  reading: math-verify's is already lenient, so both columns hold the same verdict.
- `reasoning_gym`: the answer holds the reasoning-gym item (`entry_answer`); the text after the
  completion's last `####` (strict) or its last line (flexible) is scored by the dataset's own
  `score_answer`, and counts when it scores 1.
- `code`: the answer holds tests (think_prune_train.verify.code writes and reads them); the completion,
  after the task's prefix, runs in the sandbox (think_prune_train.verify.sandbox), never in this
  process, and the tests judge it from outside the candidate's process (think_prune_train.verify.judge):
  `predicted` holds the status (passed, failed, timeout, memory, output_limit, unsplittable, error).
  Strict runs the completion as written; flexible runs the last fenced code block when the
  completion has one (chat models wrap code in ```python fences).
"""

from __future__ import annotations

import os

import pandas as pd

from think_prune_train.params import VerifierParams
from think_prune_train.verify.code import fenced_code, parse_code_answer
from think_prune_train.verify.math import grade_many, prediction_text
from think_prune_train.verify.numeric import MARKER, extract_answer, format_answer, is_correct, parse_number
from think_prune_train.verify.reasoning_gym import parse_entry_answer
from think_prune_train.verify.judge import judge_many
from think_prune_train.verify.sandbox import Limits

GRADE_COLUMNS = ["predicted", "correct", "correct_flexible"]
# `predicted` is for reading the rows; a long maths answer is cut to this many characters.
MAX_PREDICTED_CHARS = 200


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
    verdicts = grade_many(zip(completions, answers), verifier.timeout_s, _workers(verifier))
    return [(prediction_text(completion).strip()[:MAX_PREDICTED_CHARS] or None, verdict, verdict)
            for completion, verdict in zip(completions, verdicts)]


def _code(completions: list[str], answers: list[str], verifier: VerifierParams, progress: str | None) -> list[tuple]:
    limits = Limits(
        timeout_seconds=verifier.timeout_s, cpu_seconds=max(1, int(verifier.timeout_s)),
        memory_bytes=verifier.memory_mb << 20, isolation=verifier.isolation,
    )
    programs: dict[tuple, int] = {}  # each distinct program is judged once (repeated samples are common)
    plans = []
    for completion, answer in zip(completions, answers):
        tests, entry_point, prefix = parse_code_answer(answer)
        fenced = fenced_code(completion)
        strict = (prefix + completion, tests, entry_point)
        flexible = (prefix + fenced, tests, entry_point) if fenced is not None else strict
        plans.append((programs.setdefault(strict, len(programs)), programs.setdefault(flexible, len(programs))))
    judged = judge_many(list(programs), limits, _workers(verifier), progress=progress and f"{progress} (sandbox)")
    return [(judged[strict].status, judged[strict].passed, judged[flexible].passed) for strict, flexible in plans]


def _reasoning_gym(completions: list[str], answers: list[str]) -> list[tuple]:
    import reasoning_gym

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
