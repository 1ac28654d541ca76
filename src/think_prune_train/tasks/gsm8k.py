"""GSM8K (MIT licence): from the hub (`openai/gsm8k`) or a local folder holding train and test files.

Local files are read by the same reader as every other task's (think_prune_train.tasks.files).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from think_prune_train.errors import TaskError
from think_prune_train.params import PrepareParams
from think_prune_train.tasks.files import is_local_source, read_rows
from think_prune_train.tasks.records import canonical_answer, question_id, solution_steps
from think_prune_train.tasks.splits import stratified_splits
from think_prune_train.verify.numeric import MARKER


def _read_gsm8k_file(path: Path) -> pd.DataFrame:
    frame = pd.DataFrame([row for _, row in read_rows(path)])
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
                    "answer": canonical_answer(answer_text.rsplit(MARKER, 1)[1], f"{where} row {index}"),
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


