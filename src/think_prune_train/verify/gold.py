"""Gold answers a task's verifier can read: checked before anything is graded (prepare, prune, evaluate).

Each verifier reads its answers with the code that defines their format: numbers with
`numeric.parse_number`, code tests with `code.parse_code_answer`, reasoning-gym items with
`reasoning_gym.parse_entry_answer`; a LaTeX answer only has to be non-empty.
"""

from __future__ import annotations

import pandas as pd

from think_prune_train.errors import AnswerError
from think_prune_train.params import VerifierParams
from think_prune_train.verify.code import parse_code_answer
from think_prune_train.verify.numeric import parse_number
from think_prune_train.verify.reasoning_gym import parse_entry_answer


def check_answers(answers: pd.Series, verifier: VerifierParams, where: str) -> None:
    """Refuse gold answers the verifier cannot read, naming the first rows, before anything is graded."""
    read, hint = _gold_reader(verifier.kind)
    bad = []
    for row, answer in enumerate(answers.tolist(), start=1):  # rows count from 1, as in every message
        try:
            read(str(answer))
        except ValueError:
            bad.append(row)
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
        return parse_code_answer, "the tests of a code task (think_prune_train.verify.code.code_answer)"
    if kind == "reasoning_gym":
        return parse_entry_answer, "a reasoning-gym item (prepare writes one for verifier.kind=reasoning_gym)"

    def read_latex(text: str) -> None:
        if not text.strip():
            raise ValueError("empty")

    return read_latex, "a LaTeX answer"
