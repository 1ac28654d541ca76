"""accumulate@rN: the pruned traces of every round so far, for `train.data: accumulate` (Lee et al., 2025).

Reads the traces gathered before the round (`--earlier`: `data/pruned/r1.parquet` for round 2, then
`data/accumulated/<previous>.parquet`) and the round's own `data/pruned/<round>.parquet`, both schema
`Pruned`. Writes `data/accumulated/<round>.parquet` (schema `Pruned`): the earlier rows, then the round's,
each row keeping the round it was sampled in. DVC unrolls this stage over `accumulation`, which is empty
(no stage) unless `train.data` is accumulate; round 1 trains on its own traces and needs none.
A chain, not one stage reading every round's file: DVC templating cannot list a number of
dependencies that grows with the round.

Every path it reads or writes comes from its command line; those named here are the ones dvc.yaml gives.
"""

from __future__ import annotations

import click
import pandas as pd

from stages.common import round_option, run
from stages.paths import writable
from think_prune_train.artifacts import Pruned, read_frame, write_frame


@click.command()
@click.option("--round", "round_", required=True, callback=round_option, help="Round whose traces are added, e.g. r2.")
@click.option("--earlier", required=True, help="Traces gathered before the round, e.g. data/accumulated/r1.parquet.")
@click.option("--pruned", required=True, help="The round's kept traces, e.g. data/pruned/r2.parquet.")
@click.option("--out", required=True, help="Every round's traces so far, e.g. data/accumulated/r2.parquet.")
def main(round_: str, earlier: str, pruned: str, out: str) -> None:
    """Append the round's kept traces to those of the rounds before it."""
    out = writable(out)
    before, own = read_frame(earlier, Pruned), read_frame(pruned, Pruned)
    if round_ in set(before["round"]):
        raise click.ClickException(f"accumulate@{round_}: {earlier} already holds traces of {round_}: it must hold "
                                   f"only the rounds before it")
    gathered = pd.concat([before, own], ignore_index=True)
    write_frame(gathered, out, Pruned)
    rounds = ", ".join(sorted(set(gathered["round"]), key=lambda name: int(name[1:])))
    click.echo(f"accumulate@{round_}: {len(before)} earlier + {len(own)} of {round_} = {len(gathered)} traces "
               f"({rounds}) -> {out}")


if __name__ == "__main__":
    run(main)
