"""Where questions come from: reasoning-gym's procedural tasks (offline) and GSM8K (hub or local).

Every task yields rows of (question_id, question, answer, solution). Splits are disjoint by
question text: the test set, the warm-up set and the training pool never share a question.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

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


def _canonical_answer(raw: object, where: str) -> str:
    value = parse_number(str(raw))
    if value is None:
        raise TaskError(f"{where}: gold answer {raw!r} is not a number; fix or drop that row.")
    return format_answer(value)


def reasoning_gym_splits(params: PrepareParams, seed: int) -> dict[str, pd.DataFrame]:
    """Draw distinct questions from a reasoning-gym task and cut them into disjoint splits."""
    import reasoning_gym

    wanted = {"test": params.test_questions, "warmup": params.warmup_questions, "train": params.train_questions}
    total = sum(wanted.values())
    try:
        dataset = reasoning_gym.create_dataset(params.task, size=total * 2 + 100, seed=seed, **params.task_options)
    except (ValueError, TypeError, AssertionError, KeyError) as error:
        raise TaskError(
            f"prepare.task={params.task!r} with prepare.task_options={params.task_options!r} failed: {error}"
        ) from None
    rows, seen = [], set()
    for index, item in enumerate(dataset):
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
        if question in seen:
            continue
        seen.add(question)
        rows.append(
            {
                "question_id": question_id(params.task, question),
                "question": question,
                "answer": _canonical_answer(item["answer"], f"{params.task} item {index}"),
                "solution": _solution_for(params.task, item, params.compact),
            }
        )
        if len(rows) == total:
            break
    if len(rows) < total:
        raise TaskError(
            f"{params.task} with options {params.task_options} has only {len(rows)} distinct questions "
            f"(asked for {total}); lower prepare.train_questions/test_questions/warmup_questions "
            f"or widen prepare.task_options."
        )
    return _cut(pd.DataFrame(rows), wanted)


def _cut(frame: pd.DataFrame, wanted: dict[str, int]) -> dict[str, pd.DataFrame]:
    splits, start = {}, 0
    for name in SPLITS:
        splits[name] = frame.iloc[start : start + wanted[name]].reset_index(drop=True)
        start += wanted[name]
    return splits


def _read_gsm8k_file(path: Path) -> pd.DataFrame:
    if path.suffix == ".jsonl":
        rows = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as error:
            raise TaskError(f"{path}: not UTF-8 text (byte {error.start}); re-encode the file as UTF-8.") from None
        for line_number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise TaskError(f"{path}:{line_number}: not valid JSON ({error.msg}).") from None
        frame = pd.DataFrame(rows)
    elif path.suffix == ".parquet":
        frame = pd.read_parquet(path)
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
    if pd.isna(value) or not str(value).strip():
        raise TaskError(f"{where} row {index}: empty id; give every row a unique id or drop the id column.")
    return f"gsm8k-{str(value).strip()}"


def _load_gsm8k_split(source: str, split: str) -> tuple[pd.DataFrame, str]:
    folder = Path(source)
    if folder.exists():
        for candidate in (folder / f"{split}.jsonl", folder / f"{split}.parquet"):
            if candidate.exists():
                return _read_gsm8k_file(candidate), str(candidate)
        raise TaskError(f"{folder} has no {split}.jsonl or {split}.parquet; GSM8K needs both train and test.")
    from datasets import load_dataset

    dataset = load_dataset(source, "main", split=split)
    return dataset.to_pandas(), f"{source}[{split}]"


def gsm8k_splits(params: PrepareParams, seed: int) -> dict[str, pd.DataFrame]:
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
                }
            )
        # The same question twice (GSM8K has a few): the first row is kept, the rest are dropped.
        frames[split] = pd.DataFrame(records).drop_duplicates("question").reset_index(drop=True)
    test_questions = set(frames["test"]["question"])
    train = frames["train"][~frames["train"]["question"].isin(test_questions)]
    for name, available, wanted in (
        ("test", len(frames["test"]), params.test_questions),
        ("train + warmup", len(train), params.train_questions + params.warmup_questions),
    ):
        if wanted > available:
            raise TaskError(f"GSM8K has {available} {name} questions; prepare asks for {wanted}.")
    test = frames["test"].sample(n=params.test_questions, random_state=seed).reset_index(drop=True)
    pool = train.sample(n=params.train_questions + params.warmup_questions, random_state=seed)
    return {
        "test": test,
        "warmup": pool.iloc[: params.warmup_questions].reset_index(drop=True),
        "train": pool.iloc[params.warmup_questions :].reset_index(drop=True),
    }


def load_splits(params: PrepareParams, seed: int) -> dict[str, pd.DataFrame]:
    if params.task == "gsm8k":
        return gsm8k_splits(params, seed)
    return reasoning_gym_splits(params, seed)
