"""Code answers: what a code question's `answer` holds, and the code a completion gives.

A code question's answer is what the sandbox needs to grade a completion, as JSON text
(`code_answer`): the tests, the entry point (HumanEval's `check(candidate)` is called with it; None
for MBPP's plain asserts) and the prefix the completion continues (HumanEval's prompt; "" for
MBPP). What is graded is `judge.judge_program(prefix + completion, tests, entry_point)`; the
flexible reading runs the completion's last fenced code block instead (`fenced_code`).
"""

from __future__ import annotations

import json
import re

ANSWER_KEYS = ("entry_point", "prefix", "tests")
FENCED_CODE = re.compile(r"```[A-Za-z0-9_+-]*\n(.*?)```", re.DOTALL)


def code_answer(tests: str, entry_point: str | None, prefix: str) -> str:
    """The answer text of a code question: what `parse_code_answer` reads back."""
    if not isinstance(tests, str) or not tests.strip():
        raise ValueError(f"tests must be non-empty Python source, not {tests!r:.60}")
    if entry_point is not None and (not isinstance(entry_point, str) or not entry_point.isidentifier()):
        raise ValueError(f"entry_point must be a Python name or None, not {entry_point!r:.60}")
    if not isinstance(prefix, str):
        raise ValueError(f"prefix must be text ('' for none), not {type(prefix).__name__}")
    return json.dumps({"entry_point": entry_point, "prefix": prefix, "tests": tests}, sort_keys=True)


def parse_code_answer(text: str) -> tuple[str, str | None, str]:
    """(tests, entry_point, prefix) from a code question's answer text; ValueError says what is wrong."""
    shown = repr(text) if len(str(text)) <= 80 else repr(str(text)[:80]) + "..."
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        raise ValueError(
            f"code answer {shown} is not JSON; it must be the object code_answer() writes, with keys "
            f"{', '.join(ANSWER_KEYS)}."
        ) from None
    if not isinstance(value, dict) or sorted(value) != sorted(ANSWER_KEYS):
        keys = ", ".join(sorted(value)) if isinstance(value, dict) else type(value).__name__
        raise ValueError(f"code answer {shown} has {keys}; it must have exactly the keys {', '.join(ANSWER_KEYS)}.")
    try:
        code_answer(value["tests"], value["entry_point"], value["prefix"])  # the same checks as when written
    except ValueError as error:
        raise ValueError(f"code answer {shown}: {error}") from None
    return value["tests"], value["entry_point"], value["prefix"]


def fenced_code(completion: str) -> str | None:
    """The last ```-fenced block of a completion, or None when it has none."""
    blocks = FENCED_CODE.findall(completion)
    return blocks[-1] if blocks else None
