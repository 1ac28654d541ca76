"""Reading a dataset of questions from local files or the hub.

Shared by the GSM8K, maths and code loaders: they differ in what a row holds, not in where rows
come from. A source is a `.jsonl`, `.jsonl.gz` or `.parquet` file, a folder of
such files, or a Hugging Face hub id. When the source has a test part (a `test.*` file, or a hub
split named `test`) and something else, `load_parts` keeps it apart (the
test split is drawn from it, see `splits.draw_splits`); otherwise every split is drawn from one pool.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from think_prune_train.errors import TaskError
from think_prune_train.inputs import InputFileError, file_problem, read_bounded, shown

SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
# A task file (decompressed, for .gz) is read whole into memory; the largest public sets of questions
# are a few hundred MB. Anything over this is refused before it is read.
MAX_TASK_FILE_BYTES = 1 << 30
# A row as read: where it came from (`file:line` or `file row n`, for error messages) and its fields.
Row = tuple[str, dict]


def is_local_source(source: str) -> bool:
    """Whether `source` names a local path (else it is a hub id such as openai/openai_humaneval)."""
    return source.startswith(("/", ".", "~")) or source.endswith(SUFFIXES) or os.path.lexists(source)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_rows(path: Path) -> list[Row]:
    """Every row of one `.jsonl`, `.jsonl.gz` or `.parquet` file, each with where it came from
    (`file:line`, or `file row n` for parquet; both count from 1)."""
    problem = file_problem(path)
    if problem:
        raise TaskError(f"{path}: {problem}; a task file must be a regular .jsonl, .jsonl.gz or .parquet file.")
    if path.name.endswith(".parquet"):
        import pyarrow
        import pyarrow.parquet

        if path.stat().st_size > MAX_TASK_FILE_BYTES:
            raise TaskError(f"{path}: over {MAX_TASK_FILE_BYTES:,} bytes; a task file may hold at most that: split it.")
        try:
            # to_pylist, not pandas: list columns (MBPP's test_list) stay Python lists.
            records = pyarrow.parquet.read_table(path).to_pylist()
        except (pyarrow.ArrowException, OSError, UnicodeDecodeError) as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise TaskError(f"{path}: not a readable parquet file ({reason}); write it again, or as .jsonl.") from None
        return [(f"{path} row {index}", record) for index, record in enumerate(records, start=1)]
    if not path.name.endswith((".jsonl", ".jsonl.gz")):
        raise TaskError(f"{path}: expected a .jsonl, .jsonl.gz or .parquet file.")
    try:
        data = read_bounded(path, MAX_TASK_FILE_BYTES, "task file")
    except InputFileError as error:
        raise TaskError(str(error)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TaskError(f"{path}: not UTF-8 text (byte {error.start}); re-encode the file as UTF-8.") from None
    rows = []
    # JSON Lines ends a line at "\n" alone: str.splitlines() would also break at U+2028, U+2029, \x85,
    # \x0b, \x0c and \x1c-\x1e, each legal inside a JSON string.
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip(JSON_WHITESPACE):
            continue
        rows.append((f"{path}:{line_number}", parse_json_line(line, f"{path}:{line_number}")))
    return rows


# What JSON (RFC 8259) counts as whitespace between tokens; "\r" also ends a CRLF line.
JSON_WHITESPACE = " \t\r"


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON (write null, or the number as text)")


def _object_without_repeats(pairs: list[tuple[str, object]]) -> dict:
    row = dict(pairs)
    if len(row) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"key {shown(repeated)} appears twice in one object")
    return row


def parse_json_line(line: str, where: str) -> dict:
    """One JSON Lines row: a JSON object whose keys are unique and whose text is all valid Unicode;
    TaskError naming `where` (file:line) otherwise."""
    try:
        row = json.loads(line, object_pairs_hook=_object_without_repeats, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise TaskError(f"{where}: not valid JSON ({error.msg}).") from None
    except ValueError as error:  # a repeated key, NaN, or an integer of over 4,300 digits
        raise TaskError(f"{where}: not valid JSON for a task row ({str(error)[:200]}).") from None
    except RecursionError:
        raise TaskError(f"{where}: JSON nested too deeply to read; a task row is one flat object.") from None
    if not isinstance(row, dict):
        kind = "null" if row is None else f"a JSON {type(row).__name__}"
        raise TaskError(f"{where}: {kind}; each line must be a JSON object (one question).")
    for key, text in _strings(row):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise TaskError(
                f"{where}: {key} holds {text[error.start]!r} at character {error.start + 1}, half of a UTF-16 "
                f"surrogate pair, which no UTF-8 file can hold; fix that row."
            ) from None
    return row


def _strings(value: object, where: str = ""):
    """(where, text) for every key and string inside a parsed JSON value: `question`, `meta.notes[2]`, ..."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield f"a key in {where or 'the row'}", name
            label = name if len(name) <= 40 and name.isprintable() else shown(name, 40)
            yield from _strings(item, f"{where}.{label}" if where else label)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")


def _local_parts(source: str) -> dict[str, list[Row]]:
    path = Path(source).expanduser()
    # A missing local path must not fall through to the hub: that waits for a connection error
    # that does not name the path.
    if not os.path.lexists(path):
        raise TaskError(
            f"source {shown(source, 300)} does not exist; give a {', '.join(SUFFIXES)} file, a folder of them, or a hub id."
        )
    problem = file_problem(path)
    if problem is None:
        return {"pool": read_rows(path)}
    if not os.path.isdir(path):
        raise TaskError(f"source {shown(str(path), 300)} {problem}; give a {', '.join(SUFFIXES)} file, a folder of them, or a hub id.")
    files = []
    for child in sorted(path.iterdir()):
        if child.name.endswith(SUFFIXES):
            child_problem = file_problem(child)
            if child_problem:
                raise TaskError(f"{child}: {child_problem}; a task folder holds regular {', '.join(SUFFIXES)} files.")
            files.append(child)
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
            f"cannot load hub dataset {shown(source, 300)} ({type(error).__name__}: {reason}); check the id and the network, "
            f"or give a local .jsonl/.parquet file or folder."
        ) from None
    parts: dict[str, list[Row]] = {"test": [], "pool": []}
    for split in sorted(dataset):
        rows = [(f"{source}[{split}] row {index}", record)
                for index, record in enumerate(dataset[split].to_list(), start=1)]
        parts["test" if split == "test" else "pool"] += rows
    return parts


def load_parts(source: str, config: str | None = None) -> dict[str, list[Row]]:
    """The rows of `source` as {"test": ..., "pool": ...}, or {"pool": ...} when there is no separate test part."""
    parts = _local_parts(source) if is_local_source(source) else _hub_parts(source, config)
    if not parts.get("test") or not parts.get("pool"):
        # Only a test part (MATH-500, HumanEval) or no test part: one pool for all splits.
        return {"pool": parts.get("test", []) + parts.get("pool", [])}
    return parts
