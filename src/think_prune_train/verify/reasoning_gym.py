"""Reasoning-gym answers: the item itself, for the dataset's own `score_answer` (verifier.kind: reasoning_gym)."""

from __future__ import annotations

import json

from think_prune_train.errors import AnswerError


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
