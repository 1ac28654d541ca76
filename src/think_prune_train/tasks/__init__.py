"""Where questions come from, and how they are cut into splits: one dispatcher over the loaders.

Layers, bottom up: `splits` (the difficulty mix every split shares) and `records` (what a row
becomes); `files` (reading .jsonl, .jsonl.gz and .parquet files, folders and hub datasets); the
loaders `reasoning_gym` (procedural, offline), `gsm8k`, `math` (MATH-style) and `code`
(HumanEval/MBPP-style, and the procedural `function_from_examples`); `split_with_mix` here picks one.

Every task yields rows of (question_id, question, answer, solution, difficulty). Splits are
disjoint by question text, and they share one difficulty mix: the test set, the warm-up set and
the training pool never share a question, and each holds (to within one question per level) the
same share of every difficulty level. Held-out accuracy then measures the distribution the model
trains on, not an artefact of which questions happened to be left over for a split.
"""

from __future__ import annotations

import pandas as pd

from think_prune_train.errors import TaskError
from think_prune_train.params import PrepareParams
from think_prune_train.tasks.code import code_dataset_splits, function_from_examples_splits
from think_prune_train.tasks.gsm8k import gsm8k_splits
from think_prune_train.tasks.math import math_splits
from think_prune_train.tasks.reasoning_gym import reasoning_gym_splits


def load_splits(params: PrepareParams, seed: int) -> dict[str, pd.DataFrame]:
    """The test, warm-up and training splits."""
    return split_with_mix(params, seed)[0]


def split_with_mix(params: PrepareParams, seed: int, verifier_kind: str = "numeric") -> tuple[dict[str, pd.DataFrame], dict]:
    """The test, warm-up and training splits, and the record of their difficulty mix.

    `verifier_kind` decides how a reasoning-gym task's answers are written (see reasoning_gym_splits)."""
    sizes = {"train_questions": params.train_questions, "test_questions": params.test_questions,
             "warmup_questions": params.warmup_questions, "seed": seed}
    if params.task == "gsm8k":
        return gsm8k_splits(params, seed)
    if params.task == "math":
        return math_splits(params.source or "HuggingFaceH4/MATH-500", **sizes,
                           max_question_chars=params.max_question_chars)
    if params.task == "code":
        if not params.source:
            raise TaskError("prepare.task=code needs prepare.source: a HumanEval/MBPP-style .jsonl file, a folder or a hub id.")
        return code_dataset_splits(params.source, **sizes, max_question_chars=params.max_question_chars)
    if params.task == "function_from_examples":
        return function_from_examples_splits(**sizes)
    return reasoning_gym_splits(params, seed, own_scorer=verifier_kind == "reasoning_gym")


def fewshot_examples(splits: dict[str, pd.DataFrame], count: int, seed: int) -> pd.DataFrame:
    """`count` worked examples for few-shot prompts, drawn with `seed` from the warm-up split's
    solved questions, or from the training pool's when the warm-up has too few; never from test.

    Rows as in the splits (question_id, question, answer, solution, difficulty), in drawing order:
    a prompt with N examples takes the first N.
    """
    columns = splits["test"].columns
    if count == 0:
        return splits["test"].iloc[0:0][columns]
    for source in ("warmup", "train"):
        solved = splits[source][splits[source]["solution"].str.len() > 0]
        if len(solved) >= count:
            return solved.sample(n=count, random_state=seed % 2**32)[columns].reset_index(drop=True)
    solved = {source: int((splits[source]["solution"].str.len() > 0).sum()) for source in ("warmup", "train")}
    raise TaskError(
        f"prompt.fewshot / evaluate.fewshot ask for {count} worked examples, but the warm-up split has "
        f"{solved['warmup']} questions with a solution and the training pool {solved['train']}: lower them, "
        f"raise prepare.warmup_questions, or use a task whose questions come with solutions"
    )
