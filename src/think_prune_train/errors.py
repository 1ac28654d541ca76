"""The library's errors: every error a user can fix derives from `Error`.

A stage prints such an error as one line (its message names the file, row or key, and what to
do) and exits 2; anything else is a bug in this code and keeps its traceback.
"""

from __future__ import annotations


class Error(Exception):
    """Bad input or configuration; the message says what was wrong, where, and what to do."""


class MissingDependency(Error, ImportError):
    """An optional package a setting needs (vLLM, Ray) is not installed; the message says how to install it."""


class TaskError(Error, ValueError):
    """A task that cannot be loaded or split as configured; the message says what to change."""


class AnswerError(Error, ValueError):
    """A gold answer the task's verifier cannot read (the message names the rows)."""


class MissingInput(Error, FileNotFoundError):
    """An input file or folder that is not there (the message names it); a stage adds how to build it."""


class PromptTooLong(Error, ValueError):
    """Prompts that, with the tokens to be generated, do not fit the model's context (the message names the keys)."""


class TrainingDataTooLong(Error, ValueError):
    """Training prompts that leave no room for their completion within train.max_length (the message names the key)."""
