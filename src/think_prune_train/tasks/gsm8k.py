"""GSM8K (MIT licence): from the hub (`openai/gsm8k`) or a local folder holding train and test files.

Local files are read by the same reader as every other task's (think_prune_train.tasks.files).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from think_prune_train.errors import TaskError
from think_prune_train.inputs import file_problem, shown
from think_prune_train.params import PrepareParams
from think_prune_train.tasks.files import Row, is_local_source, read_rows
from think_prune_train.tasks.records import canonical_answer, question_id, solution_steps
from think_prune_train.tasks.splits import stratified_splits
from think_prune_train.verify.numeric import MARKER


def _read_gsm8k_file(path: Path) -> list[Row]:
    rows = read_rows(path)
    if not rows:
        raise TaskError(f"{path}: no rows; a task file needs one question per line.")
    missing = {"question", "answer"} - {key for _, row in rows for key in row}
    if missing:
        raise TaskError(f"{path}: missing column(s) {', '.join(sorted(missing))}; GSM8K rows need question and answer.")
    return rows


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _row_id(row: dict, where: str) -> str | None:
    """The file's own `id` for a row (None when the file has no id column)."""
    value = row.get("id")
    if isinstance(value, (dict, list)):
        raise TaskError(f"{where}: id must be text or a number, got {type(value).__name__}.")
    if _is_missing(value) or not str(value).strip():
        raise TaskError(f"{where}: empty id; give every row a unique id or drop the id column.")
    return f"gsm8k-{str(value).strip()}"


def _load_gsm8k_split(source: str, split: str) -> list[Row]:
    """The rows of one GSM8K split, each with where it came from (`file:line`, or `id[split] row n`)."""
    if is_local_source(source):
        # A missing local path must not fall through to the hub: that waits half a minute for a
        # connection error that does not name the path.
        folder = Path(source).expanduser()
        if not os.path.lexists(folder):
            raise TaskError(
                f"prepare.source={shown(source, 300)} does not exist; give a folder holding train.jsonl and test.jsonl "
                f"(or .parquet), or a hub id such as openai/gsm8k."
            )
        if not folder.is_dir():
            problem = file_problem(folder)
            raise TaskError(
                f"prepare.source={shown(source, 300)} {'is a file' if problem is None else problem}; give the folder that holds "
                f"train.jsonl and test.jsonl (or train.parquet and test.parquet)."
            )
        for candidate in (folder / f"{split}.jsonl", folder / f"{split}.parquet"):
            if candidate.is_dir():
                raise TaskError(f"{candidate} is a folder; it must be a file of {split} questions.")
            if os.path.lexists(candidate):
                return _read_gsm8k_file(candidate)  # read_rows names anything but a regular file
        raise TaskError(f"{folder} has no {split}.jsonl or {split}.parquet; GSM8K needs both train and test.")
    from datasets import load_dataset

    dataset = load_dataset(source, "main", split=split)
    return [(f"{source}[{split}] row {index}", row) for index, row in enumerate(dataset.to_list(), start=1)]


def gsm8k_splits(params: PrepareParams, seed: int) -> tuple[dict[str, pd.DataFrame], dict]:
    """GSM8K from the hub (`openai/gsm8k`) or a local folder holding train/test files.

    The test subset and the training pool are random draws seeded by `seed`, so the paper's
    500-question evaluation subset is reproducible. The warm-up split comes from the training
    file too, never from the test file, and never overlaps the training pool.
    """
    source = params.source or "openai/gsm8k"
    frames, places = {}, {}
    for split in ("train", "test"):
        rows = _load_gsm8k_split(source, split)
        has_ids = any("id" in row for _, row in rows)
        records, ids = [], {}
        for where, row in rows:
            for column in ("question", "answer"):
                value = row.get(column)
                if not isinstance(value, str) and not _is_missing(value):
                    # str() would turn 5 or {"a": 1} into a question nobody wrote.
                    raise TaskError(
                        f"{where}: {column} must be text, got {type(value).__name__} {shown(value)}; fix or drop that row."
                    )
            if _is_missing(row.get("answer")) or _is_missing(row.get("question")) or not row["question"].strip():
                raise TaskError(f"{where}: missing question or answer; fix or drop that row.")
            question, answer_text = row["question"].strip(), row["answer"]
            if len(question) > params.max_question_chars:
                raise TaskError(
                    f"{where}: question is {len(question):,} characters, over "
                    f"prepare.max_question_chars={params.max_question_chars:,}; fix the row or raise the limit."
                )
            if MARKER not in answer_text:
                raise TaskError(f"{where}: answer has no '{MARKER} <number>' line.")
            own_id = _row_id(row, where) if has_ids else None
            if own_id is not None and own_id in ids:
                raise TaskError(f"{ids[own_id]} and {where}: duplicate id {shown(row['id'])}; ids must be unique.")
            ids[own_id] = where
            records.append(
                {
                    "question_id": own_id or question_id("gsm8k", question),
                    "question": question,
                    "answer": canonical_answer(answer_text.rsplit(MARKER, 1)[1], where),
                    "solution": answer_text.strip(),
                    "difficulty": solution_steps(answer_text),
                    "where": where,
                }
            )
        # The same question twice (GSM8K has a few): the first row is kept, the rest are dropped.
        frame = pd.DataFrame(records).drop_duplicates("question").reset_index(drop=True)
        places[split] = dict(zip(frame["question_id"], frame.pop("where")))
        frames[split] = frame
    test_questions = set(frames["test"]["question"])
    train = frames["train"][~frames["train"]["question"].isin(test_questions)].reset_index(drop=True)
    # Ids name one question across every split: a training row whose id is a test row's names another question
    # (the same question in both files has left the training pool just above).
    clashes = sorted(set(train["question_id"]) & set(frames["test"]["question_id"]))
    if clashes:
        raise TaskError(
            f"{places['train'][clashes[0]]} and {places['test'][clashes[0]]}: id {shown(clashes[0])} names a different "
            f"question in each ({len(clashes)} such id(s)); ids must be unique across the train and test files: "
            f"renumber one file's ids, or drop the id column."
        )
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


