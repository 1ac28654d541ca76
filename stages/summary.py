"""summary: the final round's results at fixed paths, so experiments with any `rounds` compare.

Reads `reports/<final>/rounds.csv`. Writes `reports/metrics.json` (final Pass@1, greedy accuracy
and their gains at the top level; per round and per difficulty level below), which `dvc exp show`
and `dvc exp diff` read, and `reports/rounds.csv`, which `dvc plots show` / `dvc plots diff` read.
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from stages.common import round_option, run
from think_prune_train.artifacts import write_json, write_text
from think_prune_train.report import overview


@click.command()
@click.option("--final", required=True, callback=round_option, help="The last round, e.g. r3.")
def main(final: str) -> None:
    """Write reports/metrics.json and reports/rounds.csv from the final round's table."""
    source = Path(f"reports/{final}/rounds.csv")
    if not source.exists():
        raise FileNotFoundError(f"{source} is missing: run `dvc repro` (report@{final}) first.")
    table = pd.read_csv(source)
    summary = overview(table)
    write_json(summary, "reports/metrics.json")
    write_text(table.to_csv(index=False), "reports/rounds.csv")
    click.echo(
        f"summary: {final}: Pass@1 {summary['pass@1']:.3f} (gain {summary['gain']:+.3f}), "
        f"greedy {summary['greedy']:.3f} (gain {summary['greedy_gain']:+.3f}) -> reports/metrics.json"
    )


if __name__ == "__main__":
    run(main)
