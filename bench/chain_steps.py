"""Why a chain_sum loop stalls at a level: does the model write as many steps as the chain needs?

Reads kept runs (folders made by `bench/easy_to_hard.py --keep`, or any run of the pipeline) and
prints, per round and per level of the traces generate sampled: how many traces, the share that write
at least as many lines as the chain has steps (terms - 1; a line per step in both solution styles),
the share whose answer is right, and the share right with enough steps. A right answer with too few
steps came from skipped or merged terms: the answer filter keeps it, and training then teaches the skip.

    python bench/chain_steps.py /work/e2h/keep-schedule/schedule-seed-0 [--rounds r3 --rounds r8]
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from think_prune_train.verify.numeric import MARKER, is_correct


def steps_written(completion: str) -> int:
    """The lines before the answer marker: one per step."""
    return len([line for line in completion.split(MARKER, 1)[0].splitlines() if line.strip()])


def round_table(run: Path, round_: str) -> pd.DataFrame:
    traces = pd.read_parquet(run / "data/generated" / f"{round_}.parquet")
    level = pd.read_parquet(run / "data/problems/train.parquet").set_index("question_id")["difficulty"]
    traces["level"] = level.loc[traces["question_id"]].to_numpy()
    traces["enough"] = [steps_written(text) >= terms - 1 for text, terms in zip(traces["completion"], traces["level"])]
    traces["right"] = [is_correct(text, answer) for text, answer in zip(traces["completion"], traces["answer"])]
    traces["right_enough"] = traces["right"] & traces["enough"]
    table = traces.groupby("level").agg(traces=("completion", "size"), enough=("enough", "mean"), right=("right", "mean"),
                                        right_enough=("right_enough", "mean"))
    return table


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--rounds", "chosen", multiple=True, help="Rounds to show (repeat; default: every generated round).")
def main(runs: tuple[Path, ...], chosen: tuple[str, ...]) -> None:
    """Per round and level: traces, share with enough steps, share right, share right with enough steps."""
    for run in runs:
        rounds = chosen or sorted((path.stem for path in (run / "data/generated").glob("r*.parquet")
                                   if path.stem[1:].isdigit()), key=lambda name: int(name[1:]))
        click.echo(f"\n## {run}\n")
        click.echo("| round | level (terms) | traces | enough steps, % | right, % | right with enough steps, % |")
        click.echo("|---|---|---|---|---|---|")
        for round_ in rounds:
            for level, row in round_table(run, round_).iterrows():
                click.echo(f"| {round_} | {level} | {int(row['traces'])} | {100 * row['enough']:.1f} | {100 * row['right']:.1f} | "
                           f"{100 * row['right_enough']:.1f} |")


if __name__ == "__main__":
    main()
