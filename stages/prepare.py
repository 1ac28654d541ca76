"""prepare: questions with ground-truth answers from the configured task.

Reads params `seed`, `prepare`. Writes `data/problems/{train,test,warmup}.parquet` (schema
`Problems`); the three splits never share a question.
"""

from __future__ import annotations

from pathlib import Path

import click

from stages.common import run
from think_prune_train.artifacts import Problems, write_frame
from think_prune_train.params import load_params, load_section, seed_of
from think_prune_train.paths import writable
from think_prune_train.tasks import load_splits


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--out", default="data/problems", show_default=True, help="Folder for the split files.")
def main(params_file: str, out: str) -> None:
    """Build the train, test and warm-up question sets."""
    writable(out)
    params = load_params(params_file)
    prepare = load_section("prepare", params)
    splits = load_splits(prepare, seed_of(params))
    for name, frame in splits.items():
        write_frame(frame, Path(out) / f"{name}.parquet", Problems)
        click.echo(f"prepare: {name}: {len(frame)} questions -> {Path(out) / f'{name}.parquet'}")


if __name__ == "__main__":
    run(main)
