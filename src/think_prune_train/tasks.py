"""Where questions come from: reasoning-gym's procedural tasks (offline), GSM8K (hub or local), and
MATH-style maths and HumanEval/MBPP-style or procedural code (think_prune_train.math_tasks, code_tasks).

Every task yields rows of (question_id, question, answer, solution, difficulty). Splits are
disjoint by question text, and they share one difficulty mix: the test set, the warm-up set and
the training pool never share a question, and each holds (to within one question per level) the
same share of every difficulty level. Held-out accuracy then measures the distribution the model
trains on, not an artefact of which questions happened to be left over for a split.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from think_prune_train.grading import MARKER, format_answer, parse_number
from think_prune_train.params import PrepareParams

SPLITS = ("test", "warmup", "train")


class TaskError(ValueError):
    """A task that cannot be loaded or split as configured; the message says what to change."""


def question_id(task: str, question: str) -> str:
    """Content-addressed id: the same question gets the same id in every run and split."""
    return f"{task}-{hashlib.sha256(question.encode()).hexdigest()[:12]}"


def chain_solution(expression: str, compact: bool = False) -> str:
    """A worked solution for a `chain_sum` expression such as `12 - 4 + 7`, one step a line.

    The expression is parsed token by token (numbers and + / -), never evaluated as code.
    `compact` writes `12-4=8` instead of `12 - 4 = 8`.
    """
    tokens = expression.split()
    if len(tokens) < 3 or len(tokens) % 2 == 0:
        raise TaskError(f"cannot build a worked solution for expression {expression!r}")
    total = int(tokens[0])
    steps = []
    for operator, operand in zip(tokens[1::2], tokens[2::2]):
        if operator not in "+-":
            raise TaskError(f"unsupported operator {operator!r} in {expression!r}")
        result = total + int(operand) if operator == "+" else total - int(operand)
        steps.append(f"{total} {operator} {operand} = {result}")
        total = result
    solution = "\n".join(steps) + f"\n{MARKER} {total}"
    return solution.replace(" ", "") if compact else solution


def _solution_for(task: str, item: dict, compact: bool) -> str:
    metadata = item.get("metadata", {})
    if task == "chain_sum":
        return chain_solution(metadata["expression"], compact)
    if "answer_cot" in metadata:  # gsm_symbolic and friends ship a worked solution
        return metadata["answer_cot"]
    return ""


def solution_steps(solution: str) -> int:
    """Reasoning steps in a worked solution: its non-empty lines before the `#### <answer>` line."""
    steps = solution.split(MARKER, 1)[0]
    return sum(1 for line in steps.splitlines() if line.strip())


def difficulty_of(metadata: dict, solution: str) -> int:
    """A question's difficulty level, recorded in the problems artifact and reported per level.

    Arithmetic chains (chain_sum, basic_arithmetic) count their terms; tasks with a worked
    solution (GSM8K, gsm_symbolic) count its steps; anything else is one level, 0.
    """
    terms = metadata.get("num_terms")
    if isinstance(terms, (int, np.integer)) and not isinstance(terms, bool):
        return int(terms)
    return solution_steps(solution) if solution else 0


def water_fill(natural: dict[int, float], capacity: dict[int, float]) -> dict[int, float]:
    """The difficulty mix closest to `natural` that no level's `capacity` (a share) limits.

    Levels whose natural share fits are scaled up together; a level with too few distinct
    questions gets all it has. Raises TaskError when the levels together cannot fill the splits.
    """
    mix: dict[int, float] = {}
    free, remaining = {level for level, share in natural.items() if share > 0}, 1.0
    while free:
        scale = remaining / sum(natural[level] for level in free)
        capped = {level for level in free if natural[level] * scale > capacity[level]}
        if not capped:
            mix.update({level: natural[level] * scale for level in free})
            return dict(sorted(mix.items()))
        for level in capped:
            mix[level] = capacity[level]
            remaining -= capacity[level]
        free -= capped
    raise TaskError("not enough distinct questions")  # the caller words it for the user


def allocate(mix: dict[int, float], size: int) -> dict[int, int]:
    """Whole question counts per level that sum to `size` (largest remainder; ties to the lower level)."""
    exact = {level: share * size for level, share in mix.items()}
    counts = {level: int(np.floor(value)) for level, value in exact.items()}
    by_remainder = sorted(exact, key=lambda level: (-(exact[level] - counts[level]), level))
    for level in by_remainder[: size - sum(counts.values())]:
        counts[level] += 1
    return counts


def stratified_splits(
    sources: dict[str, pd.DataFrame], wanted: dict[str, int], natural: dict[int, float], seed: int, task: str
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Cut each split from its source with one shared difficulty mix.

    `sources` maps a split to the distinct questions it may draw from; splits given the same
    frame draw disjoint questions from it. The mix is `natural` (the task's own) as far as every
    source has distinct questions for it (`water_fill`); where no common mix exists the splits
    follow the natural one as far as they can and the record says `one_mix: false`. Returns the
    splits, each in a seeded random order, and the record for `data/problems/mix.json`.
    """
    groups: dict[int, list[str]] = {}
    for name in SPLITS:
        groups.setdefault(id(sources[name]), []).append(name)
    capacity = {level: 1.0 for level in natural}
    for names in groups.values():
        frame, demand = sources[names[0]], sum(wanted[name] for name in names)
        available = frame["difficulty"].value_counts()
        for level in capacity:
            if demand:
                capacity[level] = min(capacity[level], float(available.get(level, 0)) / demand)
    try:
        mix, one_mix = water_fill(natural, capacity), True
    except TaskError:
        # Too few questions of some level in some source (a small hand-made file, say): draw the
        # natural mix as far as each source allows and record that the splits' mixes differ.
        mix, one_mix = dict(sorted(natural.items())), False
    splits: dict[str, pd.DataFrame] = {}
    for names in groups.values():
        frame = sources[names[0]]
        order = np.random.default_rng(seed).permutation(len(frame))
        shuffled = frame.iloc[order].reset_index(drop=True)
        queues = {level: list(rows) for level, rows in shuffled.groupby("difficulty").groups.items()}
        for name in names:
            taken: list[int] = []
            for level, count in allocate(mix, wanted[name]).items():
                queue = queues.get(level, [])
                taken += queue[:count]
                queues[level] = queue[count:]
            # Rounding can ask a nearly exhausted level for one question too many: top up from the
            # levels with the most questions left.
            while len(taken) < wanted[name]:
                level = max(queues, key=lambda key: (len(queues[key]), -key))
                if not queues[level]:
                    raise TaskError(f"{task}: ran out of distinct questions for the {name} split.")
                taken.append(queues[level].pop(0))
            splits[name] = shuffled.loc[sorted(taken)].reset_index(drop=True)
    record = {
        "one_mix": one_mix,
        "natural": {str(level): round(share, 6) for level, share in sorted(natural.items())},
        "mix": {str(level): round(share, 6) for level, share in mix.items()},
        "splits": {
            name: {str(level): int(count) for level, count in sorted(Counter(splits[name]["difficulty"]).items())}
            for name in SPLITS
        },
    }
    return splits, record


# Gold answers are written out in full (format_answer never uses an exponent), so `1e999999999`
# would become a billion digits; no real answer comes near this many.
MAX_ANSWER_DIGITS = 1000


def _canonical_answer(raw: object, where: str) -> str:
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


def reasoning_gym_splits(params: PrepareParams, seed: int, own_scorer: bool = False) -> tuple[dict[str, pd.DataFrame], dict]:
    """Draw distinct questions from a reasoning-gym task and cut them into splits with one mix.

    The task's natural difficulty mix is measured on every draw (repeats included); a level with
    few distinct questions (two one-digit terms have only 200) gets a smaller, equal share in
    every split rather than a large share of the test set and none of the training pool.
    With `own_scorer` (verifier.kind: reasoning_gym) the answer is the whole item, for the
    dataset's own `score_answer`; otherwise it must be a number.
    """
    import reasoning_gym

    from think_prune_train.verifiers import entry_answer

    wanted = {"test": params.test_questions, "warmup": params.warmup_questions, "train": params.train_questions}
    total = sum(wanted.values())
    draws = 4 * total + 1000  # enough to see how many distinct questions each level really has
    try:
        dataset = reasoning_gym.create_dataset(params.task, size=draws, seed=seed, **params.task_options)
    except (ValueError, TypeError, AssertionError, KeyError) as error:
        raise TaskError(
            f"prepare.task={params.task!r} with prepare.task_options={params.task_options!r} failed: {error}"
        ) from None
    rows, seen, natural = [], set(), Counter()
    for index in range(draws):
        item = dataset[index]
        try:
            question = params.question_template.format(**item)
        except (KeyError, IndexError, AttributeError, ValueError) as error:
            raise TaskError(
                f"prepare.question_template={params.question_template!r} cannot be filled from a {params.task} item "
                f"({type(error).__name__}: {error}); the item has fields {', '.join(item)} "
                f"(metadata: {', '.join(item.get('metadata', {}))})."
            ) from None
        if params.compact:
            question = question.replace(" ", "")
        solution = _solution_for(params.task, item, params.compact)
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
                           else _canonical_answer(item["answer"], f"{params.task} item {index}")),
                "solution": solution,
                "difficulty": difficulty,
            }
        )
    if len(rows) < total:
        raise TaskError(
            f"{params.task} with options {params.task_options} has only {len(rows)} distinct questions "
            f"(asked for {total}); lower prepare.train_questions/test_questions/warmup_questions "
            f"or widen prepare.task_options."
        )
    pool = pd.DataFrame(rows)
    shares = {level: count / draws for level, count in natural.items()}
    return stratified_splits({name: pool for name in SPLITS}, wanted, shares, seed, params.task)


def _read_gsm8k_file(path: Path) -> pd.DataFrame:
    if path.suffix == ".jsonl":
        from think_prune_train.task_files import read_rows  # it imports this module

        frame = pd.DataFrame([row for _, row in read_rows(path)])
    elif path.suffix == ".parquet":
        import pyarrow

        try:
            frame = pd.read_parquet(path)
        except (pyarrow.ArrowException, OSError) as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise TaskError(
                f"{path}: not a readable parquet file ({reason}); write it again, or give the split as {path.stem}.jsonl."
            ) from None
    else:
        raise TaskError(f"{path}: expected a .jsonl or .parquet file.")
    if frame.empty:
        raise TaskError(f"{path}: no rows; a task file needs one question per line.")
    missing = {"question", "answer"} - set(frame.columns)
    if missing:
        raise TaskError(f"{path}: missing column(s) {', '.join(sorted(missing))}; GSM8K rows need question and answer.")
    return frame


def _row_id(row: pd.Series, where: str, index: int) -> str | None:
    """The file's own `id` for a row (None when the file has no id column)."""
    if "id" not in row.index:
        return None
    value = row["id"]
    if not pd.api.types.is_scalar(value):
        raise TaskError(f"{where} row {index}: id must be text or a number, got {type(value).__name__}.")
    if pd.isna(value) or not str(value).strip():
        raise TaskError(f"{where} row {index}: empty id; give every row a unique id or drop the id column.")
    return f"gsm8k-{str(value).strip()}"


def is_local_source(source: str) -> bool:
    """Whether `prepare.source` names a local path (else it is a hub id such as openai/gsm8k)."""
    return source.startswith(("/", ".", "~")) or source.endswith((".jsonl", ".parquet")) or os.path.exists(source)


def _load_gsm8k_split(source: str, split: str) -> tuple[pd.DataFrame, str]:
    if is_local_source(source):
        # A missing local path must not fall through to the hub: that waits half a minute for a
        # connection error that does not name the path.
        folder = Path(source).expanduser()
        if not folder.exists():
            raise TaskError(
                f"prepare.source={source!r} does not exist; give a folder holding train.jsonl and test.jsonl "
                f"(or .parquet), or a hub id such as openai/gsm8k."
            )
        if not folder.is_dir():
            raise TaskError(
                f"prepare.source={source!r} is a file; give the folder that holds train.jsonl and test.jsonl "
                f"(or train.parquet and test.parquet)."
            )
        for candidate in (folder / f"{split}.jsonl", folder / f"{split}.parquet"):
            if candidate.is_dir():
                raise TaskError(f"{candidate} is a folder; it must be a file of {split} questions.")
            if candidate.exists():
                return _read_gsm8k_file(candidate), str(candidate)
        raise TaskError(f"{folder} has no {split}.jsonl or {split}.parquet; GSM8K needs both train and test.")
    from datasets import load_dataset

    dataset = load_dataset(source, "main", split=split)
    return dataset.to_pandas(), f"{source}[{split}]"


def gsm8k_splits(params: PrepareParams, seed: int) -> tuple[dict[str, pd.DataFrame], dict]:
    """GSM8K from the hub (`openai/gsm8k`) or a local folder holding train/test files.

    The test subset and the training pool are random draws seeded by `seed`, so the paper's
    500-question evaluation subset is reproducible. The warm-up split comes from the training
    file too, never from the test file, and never overlaps the training pool.
    """
    source = params.source or "openai/gsm8k"
    frames = {}
    for split in ("train", "test"):
        frame, where = _load_gsm8k_split(source, split)
        records, ids = [], {}
        for index, row in frame.iterrows():
            for column in ("question", "answer"):
                value = row[column]
                if not isinstance(value, str) and not (pd.api.types.is_scalar(value) and pd.isna(value)):
                    # str() would turn 5 or {"a": 1} into a question nobody wrote.
                    raise TaskError(
                        f"{where} row {index}: {column} must be text, got {type(value).__name__} {value!r:.60}; "
                        f"fix or drop that row."
                    )
            if pd.isna(row["answer"]) or pd.isna(row["question"]) or not str(row["question"]).strip():
                raise TaskError(f"{where} row {index}: missing question or answer; fix or drop that row.")
            question, answer_text = str(row["question"]).strip(), str(row["answer"])
            if len(question) > params.max_question_chars:
                raise TaskError(
                    f"{where} row {index}: question is {len(question):,} characters, over "
                    f"prepare.max_question_chars={params.max_question_chars:,}; fix the row or raise the limit."
                )
            if MARKER not in answer_text:
                raise TaskError(f"{where} row {index}: answer has no '{MARKER} <number>' line.")
            own_id = _row_id(row, where, index)
            if own_id is not None and own_id in ids:
                raise TaskError(f"{where} rows {ids[own_id]} and {index}: duplicate id {row['id']!r}; ids must be unique.")
            ids[own_id] = index
            records.append(
                {
                    "question_id": own_id or question_id("gsm8k", question),
                    "question": question,
                    "answer": _canonical_answer(answer_text.rsplit(MARKER, 1)[1], f"{where} row {index}"),
                    "solution": answer_text.strip(),
                    "difficulty": solution_steps(answer_text),
                }
            )
        # The same question twice (GSM8K has a few): the first row is kept, the rest are dropped.
        frames[split] = pd.DataFrame(records).drop_duplicates("question").reset_index(drop=True)
    test_questions = set(frames["test"]["question"])
    train = frames["train"][~frames["train"]["question"].isin(test_questions)].reset_index(drop=True)
    for name, available, wanted in (
        ("test", len(frames["test"]), params.test_questions),
        ("train + warmup", len(train), params.train_questions + params.warmup_questions),
    ):
        if wanted > available:
            raise TaskError(f"GSM8K has {available} {name} questions; prepare asks for {wanted}.")
    # GSM8K's own train and test files share one distribution; the draws keep one mix of solution
    # lengths across the three splits (the training file's mix, as far as the test file allows).
    natural = (frames["train"]["difficulty"].value_counts(normalize=True)).to_dict()
    wanted = {"test": params.test_questions, "warmup": params.warmup_questions, "train": params.train_questions}
    sources = {"test": frames["test"], "warmup": train, "train": train}
    return stratified_splits(sources, wanted, {int(k): float(v) for k, v in natural.items()}, seed, "gsm8k")


def load_splits(params: PrepareParams, seed: int) -> dict[str, pd.DataFrame]:
    """The test, warm-up and training splits."""
    return split_with_mix(params, seed)[0]


# Tasks that are not reasoning-gym datasets, and their default sources.
OWN_TASKS = ("gsm8k", "math", "code", "function_from_examples")


def split_with_mix(params: PrepareParams, seed: int, verifier_kind: str = "numeric") -> tuple[dict[str, pd.DataFrame], dict]:
    """The test, warm-up and training splits, and the record of their difficulty mix.

    `verifier_kind` decides how a reasoning-gym task's answers are written (see reasoning_gym_splits)."""
    sizes = {"train_questions": params.train_questions, "test_questions": params.test_questions,
             "warmup_questions": params.warmup_questions, "seed": seed}
    if params.task == "gsm8k":
        return gsm8k_splits(params, seed)
    if params.task == "math":
        from think_prune_train.math_tasks import math_splits

        return math_splits(params.source or "HuggingFaceH4/MATH-500", **sizes,
                           max_question_chars=params.max_question_chars)
    if params.task == "code":
        from think_prune_train.code_tasks import code_dataset_splits

        if not params.source:
            raise TaskError("prepare.task=code needs prepare.source: a HumanEval/MBPP-style .jsonl file, a folder or a hub id.")
        return code_dataset_splits(params.source, **sizes, max_question_chars=params.max_question_chars)
    if params.task == "function_from_examples":
        from think_prune_train.code_tasks import function_from_examples_splits

        return function_from_examples_splits(**sizes)
    return reasoning_gym_splits(params, seed, own_scorer=verifier_kind == "reasoning_gym")
