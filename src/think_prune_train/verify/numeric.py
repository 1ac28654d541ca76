"""Answer extraction and grading: the one correctness function shared by prune and evaluate.

Two readings of a completion:
- strict: the number after the last `####` marker (GSM8K's convention; what the prompt asks for);
- flexible: the strict answer if there is one, else the last number anywhere in the text.
Numbers compare by value, so `1,000`, `$1000.00` and `1000.` all equal `1000`. A minus sign after a
number (or a closing bracket), with or without spaces, is subtraction, not a sign: the last number
of `12 - 7` and of `12-7` is 7, while `#### - 5` and `= -5` are -5.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext

MARKER = "####"
# A signed number with optional thousands separators and decimals, allowing a leading `$`.
NUMBER = re.compile(r"-?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\$?\.\d+")


def parse_number(text: str) -> Decimal | None:
    """`"$1,234.50."` -> Decimal("1234.50"); anything that is not a single number -> None."""
    cleaned = text.strip().rstrip(".").replace(",", "").replace("$", "").replace(" ", "")
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _first_number(text: str) -> Decimal | None:
    numbers = _numbers(text)
    return parse_number(numbers[0]) if numbers else None


def _numbers(text: str) -> list[str]:
    """Every number in `text`, in order; a minus that follows a number or a `)` is an operator, not a sign."""
    found = []
    for match in NUMBER.finditer(text):
        number = match.group()
        before = text[: match.start()].rstrip()
        if number.startswith("-") and before and (before[-1].isdigit() or before[-1] == ")"):
            number = number[1:]
        found.append(number)
    return found


def extract_answer(completion: str, mode: str = "strict") -> Decimal | None:
    """The final answer a completion commits to, or None if it gives none.

    With several `####` markers the last one that is followed by a number wins: models often
    echo the prompt's `#### [answer]` placeholder before writing the real answer.
    """
    if mode not in ("strict", "flexible"):
        raise ValueError(f"grading mode must be 'strict' or 'flexible', not {mode!r}")
    for segment in reversed(completion.split(MARKER)[1:]):
        answer = _first_number(segment.split("\n", 1)[0])
        if answer is not None:
            return answer
    if mode == "flexible":
        numbers = _numbers(completion)
        return parse_number(numbers[-1]) if numbers else None
    return None


def is_correct(completion: str, gold_answer: str, mode: str = "strict") -> bool:
    """True when the completion's final answer equals `gold_answer` by numeric value."""
    gold = parse_number(gold_answer)
    if gold is None:
        raise ValueError(f"gold answer {gold_answer!r} is not a number")
    predicted = extract_answer(completion, mode)
    return predicted is not None and predicted == gold


def format_answer(value: Decimal) -> str:
    """Canonical text for a number: no exponent, no trailing zeros (`18.0` -> `18`)."""
    # normalize() rounds to the context's precision (28 digits by default): give it every digit.
    with localcontext() as context:
        context.prec = max(28, len(value.as_tuple().digits))
        return format(value.normalize(), "f")
