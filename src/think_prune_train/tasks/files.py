"""Reading a dataset of questions from local files or the hub.

Shared by the GSM8K, maths and code loaders: they differ in what a row holds, not in where rows
come from. A source is a `.jsonl`, `.jsonl.gz` or `.parquet` file, a folder of
such files, or a Hugging Face hub id. When the source has a test part (a `test.*` file, or a hub
split named `test`) and something else, `load_parts` keeps it apart (the
test split is drawn from it, see `splits.draw_splits`); otherwise every split is drawn from one pool.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from think_prune_train.errors import TaskError

SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
# A row as read: where it came from (`file:line` or `file row n`, for error messages) and its fields.
Row = tuple[str, dict]


def is_local_source(source: str) -> bool:
    """Whether `source` names a local path (else it is a hub id such as openai/openai_humaneval)."""
    return source.startswith(("/", ".", "~")) or source.endswith(SUFFIXES) or os.path.exists(source)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_rows(path: Path) -> list[Row]:
    """Every row of one `.jsonl`, `.jsonl.gz` or `.parquet` file, each with where it came from."""
    if path.name.endswith(".parquet"):
        import pyarrow
        import pyarrow.parquet

        try:
            # to_pylist, not pandas: list columns (MBPP's test_list) stay Python lists.
            records = pyarrow.parquet.read_table(path).to_pylist()
        except (pyarrow.ArrowException, OSError) as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise TaskError(f"{path}: not a readable parquet file ({reason}); write it again, or as .jsonl.") from None
        return [(f"{path} row {index}", record) for index, record in enumerate(records)]
    if not path.name.endswith((".jsonl", ".jsonl.gz")):
        raise TaskError(f"{path}: expected a .jsonl, .jsonl.gz or .parquet file.")
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        else:
            lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise TaskError(f"{path}: not UTF-8 text (byte {error.start}); re-encode the file as UTF-8.") from None
    except (OSError, EOFError) as error:  # a truncated or mislabelled .gz
        raise TaskError(f"{path}: cannot be read ({error}); write the file again.") from None
    rows = []
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise TaskError(f"{path}:{line_number}: not valid JSON ({error.msg}).") from None
        if not isinstance(row, dict):
            kind = "null" if row is None else f"a JSON {type(row).__name__}"
            raise TaskError(f"{path}:{line_number}: {kind}; each line must be a JSON object (one question).")
        rows.append((f"{path}:{line_number}", row))
    return rows


def _local_parts(source: str) -> dict[str, list[Row]]:
    path = Path(source).expanduser()
    # A missing local path must not fall through to the hub: that waits for a connection error
    # that does not name the path.
    if not path.exists():
        raise TaskError(
            f"source {source!r} does not exist; give a {', '.join(SUFFIXES)} file, a folder of them, or a hub id."
        )
    if path.is_file():
        return {"pool": read_rows(path)}
    files = sorted(child for child in path.iterdir() if child.is_file() and child.name.endswith(SUFFIXES))
    if not files:
        raise TaskError(f"{path} holds no {', '.join(SUFFIXES)} files.")
    parts: dict[str, list[Row]] = {"test": [], "pool": []}
    for file in files:
        # `test.jsonl`, or the hub's parquet export `test-00000-of-00001.parquet`
        is_test = _stem(file) == "test" or _stem(file).startswith(("test-", "test_"))
        parts["test" if is_test else "pool"] += read_rows(file)
    return parts


def _hub_parts(source: str, config: str | None) -> dict[str, list[Row]]:
    from datasets import load_dataset

    try:
        dataset = load_dataset(source, config) if config else load_dataset(source)
    except Exception as error:  # noqa: BLE001 - datasets raises many kinds; all mean "cannot load it"
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise TaskError(
            f"cannot load hub dataset {source!r} ({type(error).__name__}: {reason}); check the id and the network, "
            f"or give a local .jsonl/.parquet file or folder."
        ) from None
    parts: dict[str, list[Row]] = {"test": [], "pool": []}
    for split in sorted(dataset):
        rows = [(f"{source}[{split}] row {index}", record) for index, record in enumerate(dataset[split].to_list())]
        parts["test" if split == "test" else "pool"] += rows
    return parts


def load_parts(source: str, config: str | None = None) -> dict[str, list[Row]]:
    """The rows of `source` as {"test": ..., "pool": ...}, or {"pool": ...} when there is no separate test part."""
    parts = _local_parts(source) if is_local_source(source) else _hub_parts(source, config)
    if not parts.get("test") or not parts.get("pool"):
        # Only a test part (MATH-500, HumanEval) or no test part: one pool for all splits.
        return {"pool": parts.get("test", []) + parts.get("pool", [])}
    return parts
