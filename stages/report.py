"""report@rN: the results table through round N, for `dvc metrics` / `dvc plots` and for people.

Reads `reports/<previous>/rounds.csv` (the table through the round before; `reports/start` is
the empty table), `evaluations/<round>/metrics.json` and prepare's record of the splits' levels
`data/problems/mix.json` (levels the warm-up never saw are marked in the table and the plot). Writes into `reports/<round>/`:
`rounds.csv` (every round so far, overall and per difficulty level), `metrics.json` (Pass@1 and
greedy accuracy per round), `rounds.md` and `pass_at_1.png`. The `summary` stage copies the final
round's table to the fixed paths that `dvc exp show` and `dvc plots` read.

Every path it reads or writes comes from its command line; those named here are the ones dvc.yaml gives.
"""

from __future__ import annotations

import json

import click
import pandas as pd

from stages.common import round_option, run
from stages.paths import writable
from think_prune_train.artifacts import write_json, write_text
from think_prune_train.reporting.tables import (
    COLUMNS, difficulty_markdown, extend, levels, plot, summary, to_markdown, unseen_levels,
)


@click.command()
@click.option("--round", "round_", required=True, callback=round_option, help="Last round of the table, e.g. r3.")
@click.option("--previous", required=True, help="The table it extends, e.g. reports/r2/rounds.csv.")
@click.option("--metrics", "metrics_file", required=True, help="The round's evaluation, e.g. evaluations/r3/metrics.json.")
@click.option("--out", required=True, help="Folder for the round's report, e.g. reports/r3.")
@click.option("--mix", "mix_file", default=None,
              help="prepare's record of the splits' levels, e.g. data/problems/mix.json: marks the levels the "
                   "warm-up never saw.")
def main(round_: str, previous: str, metrics_file: str, out: str, mix_file: str | None) -> None:
    """Add the round's evaluation to the results table, metrics file and plot."""
    out = writable(out)
    table = extend(pd.read_csv(previous), round_, metrics_file)
    unseen = unseen_levels(json.loads(open(mix_file, encoding="utf-8").read()), levels(table)) if mix_file else []
    write_text(table.to_csv(index=False), f"{out}/rounds.csv")
    write_json(summary(table), f"{out}/metrics.json")
    markdown = to_markdown(table[COLUMNS]) + "\n" + difficulty_markdown(table, unseen)
    write_text(markdown, f"{out}/rounds.md")
    plot(table, f"{out}/pass_at_1.png", unseen)
    click.echo(markdown, nl=False)


if __name__ == "__main__":
    run(main)
