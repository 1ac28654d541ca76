"""Data contracts for every artifact the pipeline writes, and the only way to read or write them.

Each artifact has one pandera model. `write_frame` validates before anything touches the disk
and then writes through a temporary file, so a bad frame or a crash never leaves a half-written
output. `read_frame` validates again, so a hand-edited or foreign file fails at the stage that
reads it, with the file, the column, the rows and what to do.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from think_prune_train import failpoints
from think_prune_train.errors import Error, MissingInput


class DataContractError(Error, ValueError):
    """A data file or frame that breaks its schema; the message is meant for the user."""


class MissingArtifact(DataContractError, MissingInput):
    """An artifact that is not there yet: the stage that writes it has not run."""


class Problems(pa.DataFrameModel):
    """Questions with ground-truth answers (`data/problems/{train,test,warmup}.parquet`)."""

    question_id: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    question: Series[str] = pa.Field(str_length={"min_value": 1})
    # What the task's verifier checks against: a number, a LaTeX answer, or a code task's tests.
    answer: Series[str] = pa.Field(str_length={"min_value": 1})
    # A worked solution ending in `#### <answer>`, or "" when the task has none.
    solution: Series[str]
    # Number of terms (arithmetic chains) or solution steps (word problems); see tasks.difficulty_of.
    difficulty: Series[int] = pa.Field(ge=0)

    class Config:
        strict = True


class Traces(pa.DataFrameModel):
    """Sampled solutions (`data/generated/<round>.parquet`): one row per (question, sample)."""

    round: Series[str] = pa.Field(str_matches=r"^r\d+$")
    question_id: Series[str] = pa.Field(str_length={"min_value": 1})
    sample: Series[int] = pa.Field(ge=0)
    seed: Series[int] = pa.Field(ge=0)
    prompt: Series[str] = pa.Field(str_length={"min_value": 1})
    completion: Series[str]
    answer: Series[str] = pa.Field(str_length={"min_value": 1})

    class Config:
        strict = True
        unique = ["question_id", "sample"]


class TreeNodes(pa.DataFrameModel):
    """The reasoning trees of `generate.method: mcts` (`data/generated/<round>-tree.parquet`), one row per node.

    Node 0 of each question is the root (the prompt alone, `parent` -1). A node's `step` is the text it
    adds after its parent's, ending with the step separator unless the node is `terminal` (its path is a
    whole solution). The path of a node, the text after the prompt, is its ancestors' steps and its own.
    `visits` counts the graded solutions that pass through it and `value` is the share of them that was
    correct; `tokens` counts the tokens generated from it (its expansions and rollouts). With
    `method: sample` the file has no rows.
    """

    round: Series[str] = pa.Field(str_matches=r"^r\d+$")
    question_id: Series[str] = pa.Field(str_length={"min_value": 1})
    node: Series[int] = pa.Field(ge=0)
    parent: Series[int] = pa.Field(ge=-1)
    depth: Series[int] = pa.Field(ge=0)
    step: Series[str]
    terminal: Series[bool]
    visits: Series[int] = pa.Field(ge=0)
    value: Series[float] = pa.Field(ge=0.0, le=1.0)
    tokens: Series[int] = pa.Field(ge=0)

    class Config:
        strict = True
        unique = ["question_id", "node"]


class Pruned(pa.DataFrameModel):
    """Traces kept for training (`data/pruned/<round>.parquet`)."""

    round: Series[str] = pa.Field(str_matches=r"^r\d+$")
    question_id: Series[str] = pa.Field(str_length={"min_value": 1})
    sample: Series[int] = pa.Field(ge=0)
    prompt: Series[str] = pa.Field(str_length={"min_value": 1})
    completion: Series[str] = pa.Field(str_length={"min_value": 1})

    class Config:
        strict = True
        # With the round: accumulated data (`data/accumulated/<round>.parquet`) holds every round's kept
        # traces, and a question drawn again in a later round has a sample 0 there too.
        unique = ["round", "question_id", "sample"]


class Pairs(pa.DataFrameModel):
    """Preference pairs for DPO (`data/pairs/<round>.parquet`): a correct and an incorrect trace of one question.

    With `prune.pair_shared_prefix` the opening both traces share is moved to the end of `prompt`,
    so `chosen` and `rejected` hold only where they differ (fine-grained DPO);
    `shared_prefix_chars` says how many characters moved.
    """

    round: Series[str] = pa.Field(str_matches=r"^r\d+$")
    question_id: Series[str] = pa.Field(str_length={"min_value": 1})
    chosen_sample: Series[int] = pa.Field(ge=0)
    rejected_sample: Series[int] = pa.Field(ge=0)
    prompt: Series[str] = pa.Field(str_length={"min_value": 1})
    chosen: Series[str] = pa.Field(str_length={"min_value": 1})
    rejected: Series[str] = pa.Field(str_length={"min_value": 1})
    shared_prefix_chars: Series[int] = pa.Field(ge=0)

    class Config:
        strict = True
        unique = ["question_id", "chosen_sample", "rejected_sample"]


class Evaluations(pa.DataFrameModel):
    """Graded test completions (`evaluations/<round>/rows.parquet`); sample -1 is the greedy one."""

    round: Series[str] = pa.Field(str_matches=r"^r\d+$")
    question_id: Series[str] = pa.Field(str_length={"min_value": 1})
    sample: Series[int] = pa.Field(ge=-1)
    completion: Series[str]
    answer: Series[str]
    predicted: Series[str] = pa.Field(nullable=True)
    correct: Series[bool]
    correct_flexible: Series[bool]
    difficulty: Series[int] = pa.Field(ge=0)

    class Config:
        strict = True
        unique = ["question_id", "sample"]


SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    "problems": Problems,
    "traces": Traces,
    "pruned": Pruned,
    "pairs": Pairs,
    "evaluations": Evaluations,
    "treenodes": TreeNodes,
}


def _describe_failures(error: pa.errors.SchemaErrors, limit: int = 8) -> str:
    lines = []
    cases = error.failure_cases
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        rows = [str(int(i) + 1) for i in group["index"].dropna().tolist()[:limit]]  # counted from 1
        values = [repr(v) if len(repr(v)) <= 60 else repr(v)[:60] + "..." for v in group["failure_case"].tolist()[:3]]
        where = f"rows {', '.join(rows)}" + (" …" if len(group) > limit else "") if rows else "whole column"
        lines.append(f"  - column {column!r}: check {check} failed at {where} (values: {', '.join(values)})")
    return "\n".join(lines)


def validate(frame: pd.DataFrame, schema: type[pa.DataFrameModel], source: str) -> pd.DataFrame:
    """Check every rule at once; raise DataContractError listing each failing column and row."""
    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as error:
        raise DataContractError(
            f"{source} does not match the {schema.__name__} schema:\n{_describe_failures(error)}\n"
            f"Fix the file or rerun the stage that writes it; "
            f"`python -m stages validate {schema.__name__.lower()} <file>` rechecks it."
        ) from None


def read_frame(path: str | Path, schema: type[pa.DataFrameModel]) -> pd.DataFrame:
    """Read a parquet artifact and validate it."""
    path = Path(path)
    if not path.exists():
        raise MissingArtifact(f"{path} does not exist; run the stage that produces it first.")
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several types for unreadable files
        raise DataContractError(f"{path} is not a readable parquet file ({error}); regenerate it.") from None
    return validate(frame, schema, str(path))


def atomic_write(path: str | Path, write: Any) -> None:
    """Call `write(temporary_path)`, then rename into `path`: readers never see a partial file.

    The temporary file sits in the same folder (a rename is atomic only within one file system)
    and is removed if `write` fails; a SIGKILL can leave a `.<name>.*.tmp` file behind but never
    a partial `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):  # from an earlier run that was killed
        leftover.unlink(missing_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        failpoints.reached("write.before_replace")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_frame(frame: pd.DataFrame, path: str | Path, schema: type[pa.DataFrameModel]) -> None:
    """Validate, then write parquet atomically with a deterministic layout."""
    frame = validate(frame.reset_index(drop=True), schema, f"output for {path}")
    atomic_write(path, lambda temporary: frame.to_parquet(temporary, index=False, compression="zstd"))


def write_text(text: str, path: str | Path) -> None:
    atomic_write(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


def write_json(data: Any, path: str | Path) -> None:
    """Pretty, key-sorted JSON written atomically (stable bytes for identical content)."""
    write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", path)
