"""summary: the final round's results at fixed paths, so experiments with any `rounds` compare.

Reads `reports/<final>/rounds.csv`. Writes `reports/metrics.json` (final Pass@1, greedy accuracy
and their gains at the top level; per round and per difficulty level below), which `dvc exp show`
and `dvc exp diff` read, and `reports/rounds.csv`, which `dvc plots show` / `dvc plots diff` read.

Every path it reads or writes comes from its command line; those named here are the ones dvc.yaml gives.
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from stages.common import round_option, run
from stages.paths import writable
from think_prune_train.errors import MissingInput
from think_prune_train.artifacts import write_json, write_text
from think_prune_train.reporting.tables import overview


@click.command()
@click.option("--final", required=True, callback=round_option, help="The last round, e.g. r3.")
@click.option("--table", required=True, help="The final round's table, e.g. reports/r3/rounds.csv.")
@click.option("--metrics", "metrics_out", required=True, help="Where to write the summary, e.g. reports/metrics.json.")
@click.option("--rounds", "rounds_out", required=True, help="Where to copy the table, e.g. reports/rounds.csv.")
def main(final: str, table: str, metrics_out: str, rounds_out: str) -> None:
    """Write the summary metrics and the per-round table from the final round's table."""
    metrics_out, rounds_out = writable(metrics_out, "--metrics"), writable(rounds_out, "--rounds")
    source = Path(table)
    if not source.exists():
        raise MissingInput(f"{source} is missing (report@{final} writes it).")
    table = pd.read_csv(source)
    summary = overview(table)
    write_json(summary, metrics_out)
    write_text(table.to_csv(index=False), rounds_out)
    click.echo(
        f"summary: {final}: Pass@1 {summary['pass@1']:.3f} (gain {summary['gain']:+.3f}), "
        f"greedy {summary['greedy']:.3f} (gain {summary['greedy_gain']:+.3f}) -> {metrics_out}"
    )


if __name__ == "__main__":
    run(main)
