"""reasoning-gym's procedural tasks (offline): chain_sum, basic_arithmetic, gsm_symbolic, ...

Questions are drawn from `reasoning_gym.create_dataset`; chain_sum gets a worked solution built
here (one step a line), gsm_symbolic and friends ship their own.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from think_prune_train.errors import TaskError
from think_prune_train.inputs import shown
from think_prune_train.params import SOLUTION_STYLES, PrepareParams
from think_prune_train.seeding import derive_seed
from think_prune_train.tasks.records import canonical_answer, question_id, solution_steps
from think_prune_train.tasks.splits import SPLITS, stratified_splits
from think_prune_train.verify.numeric import MARKER
from think_prune_train.verify.reasoning_gym import entry_answer


def chain_solution(expression: str, compact: bool = False, style: str = "steps") -> str:
    """A worked solution for a `chain_sum` expression such as `12 - 4 + 7`, one step a line.

    The expression is parsed token by token (numbers and + / -), never evaluated as code.
    `compact` writes `12-4=8` instead of `12 - 4 = 8`. `style` is how a line reads:
    - `steps`: the step alone (`12 - 4 = 8`, then `8 + 7 = 15`);
    - `rewrite`: the expression again with its first two terms replaced by their result
      (`8 + 7`, then `15`). Each line is then made from the start of the line above it, whatever
      the chain's length, where `steps` must find the k-th term of the question for the k-th step.
    """
    if style not in SOLUTION_STYLES:
        raise TaskError(f"unknown worked-solution style {style!r}: expected one of {', '.join(SOLUTION_STYLES)}")
    tokens = expression.split()
    if len(tokens) < 3 or len(tokens) % 2 == 0:
        raise TaskError(f"cannot build a worked solution for expression {expression!r}")
    total = int(tokens[0])
    steps = []
    for index, (operator, operand) in enumerate(zip(tokens[1::2], tokens[2::2])):
        if operator not in "+-":
            raise TaskError(f"unsupported operator {operator!r} in {expression!r}")
        result = total + int(operand) if operator == "+" else total - int(operand)
        if style == "steps":
            steps.append(f"{total} {operator} {operand} = {result}")
        else:
            steps.append(" ".join([str(result), *tokens[3 + 2 * index:]]))
        total = result
    solution = "\n".join(steps) + f"\n{MARKER} {total}"
    return solution.replace(" ", "") if compact else solution


def _solution_for(task: str, item: dict, compact: bool, style: str = "steps") -> str:
    metadata = item.get("metadata", {})
    if task == "chain_sum":
        return chain_solution(metadata["expression"], compact, style)
    if "answer_cot" in metadata:  # gsm_symbolic and friends ship a worked solution
        return metadata["answer_cot"]
    return ""


def difficulty_of(metadata: dict, solution: str) -> int:
    """A question's difficulty level, recorded in the problems artifact and reported per level.

    Arithmetic chains (chain_sum, basic_arithmetic) count their terms; tasks with a worked
    solution (GSM8K, gsm_symbolic) count its steps; anything else is one level, 0.
    """
    terms = metadata.get("num_terms")
    if isinstance(terms, (int, np.integer)) and not isinstance(terms, bool):
        return int(terms)
    return solution_steps(solution) if solution else 0


def reasoning_gym_splits(params: PrepareParams, seed: int, own_scorer: bool = False) -> tuple[dict[str, pd.DataFrame], dict]:
    """Draw distinct questions from a reasoning-gym task and cut them into splits with one mix.

    The task's natural difficulty mix is measured on every draw (repeats included); a level with
    few distinct questions (two one-digit terms have only 200) gets a smaller, equal share in
    every split rather than a large share of the test set and none of the training pool.
    With `own_scorer` (verifier.kind: reasoning_gym) the answer is the whole item, for the
    dataset's own `score_answer`; otherwise it must be a number.

    With `prepare.harder` a second draw, with its options over `task_options`, adds questions at
    levels beyond the warm-up's to the test set and the training pool (never to the warm-up),
    after theirs, with a mix of their own; `mix.json` records it under `harder`.
    """
    wanted = {"test": params.test_questions, "warmup": params.warmup_questions, "train": params.train_questions}
    pool, shares = _distinct_questions(params, params.task_options, sum(wanted.values()), seed, own_scorer)
    splits, record = stratified_splits({name: pool for name in SPLITS}, wanted, shares, seed, params.task)
    harder = params.harder
    if not harder.task_options:
        return splits, record
    options = {**params.task_options, **harder.task_options}
    wanted = {"test": harder.test_questions, "warmup": 0, "train": harder.train_questions}
    harder_seed = derive_seed(seed, "harder") % 2**31
    extra, extra_shares = _distinct_questions(params, options, sum(wanted.values()), harder_seed, own_scorer,
                                              exclude=set(pool["question"]), label="prepare.harder")
    extra_splits, extra_record = stratified_splits({name: extra for name in SPLITS}, wanted, extra_shares, seed,
                                                   params.task)
    for name in ("test", "train"):
        splits[name] = pd.concat([splits[name], extra_splits[name]], ignore_index=True)
        record["splits"][name] = {str(level): int(count)
                                  for level, count in sorted(Counter(splits[name]["difficulty"]).items())}
    del extra_record["splits"]["warmup"]
    record["harder"] = {"task_options": options, **extra_record}
    return splits, record


def _distinct_questions(params: PrepareParams, options: dict, total: int, seed: int, own_scorer: bool,
                        exclude: set[str] = frozenset(), label: str = "prepare") -> tuple[pd.DataFrame, dict[int, float]]:
    """`total` or more distinct questions (none of them in `exclude`) drawn with `options`, and the
    natural share of each difficulty level among every draw."""
    import reasoning_gym

    draws = 4 * total + 1000  # enough to see how many distinct questions each level really has
    try:
        dataset = reasoning_gym.create_dataset(params.task, size=draws, seed=seed, **options)
    except (ValueError, TypeError, AssertionError, KeyError) as error:
        raise TaskError(
            f"prepare.task={shown(params.task)} with task options {shown(options)} failed: {str(error)[:200]}"
        ) from None
    rows, seen, natural = [], set(exclude), Counter()
    for index in range(draws):
        item = dataset[index]
        try:
            question = params.question_template.format(**item)
        except (KeyError, IndexError, AttributeError, ValueError) as error:
            raise TaskError(
                f"prepare.question_template={shown(params.question_template)} cannot be filled from a {params.task} item "
                f"({type(error).__name__}: {str(error)[:100]}); the item has fields {', '.join(item)} "
                f"(metadata: {', '.join(item.get('metadata', {}))})."
            ) from None
        if params.compact:
            question = question.replace(" ", "")
        solution = _solution_for(params.task, item, params.compact, params.solution_style)
        difficulty = difficulty_of(item.get("metadata", {}), solution)
        natural[difficulty] += 1
        if question in seen:
            continue
        seen.add(question)
        rows.append(
            {
                "question_id": question_id(params.task, question),
                "question": question,
                "answer": (entry_answer(params.task, item, f"{params.task} item {index}") if own_scorer
                           else canonical_answer(item["answer"], f"{params.task} item {index}")),
                "solution": solution,
                "difficulty": difficulty,
            }
        )
    if len(rows) < total:
        raise TaskError(
            f"{params.task} with options {shown(options)} has only {len(rows)} distinct questions "
            f"(asked for {total}); lower {label}.train_questions/test_questions"
            f"{'/warmup_questions' if label == 'prepare' else ''} or widen {label}.task_options."
        )
    return pd.DataFrame(rows), {level: count / draws for level, count in natural.items()}
