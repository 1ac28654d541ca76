"""report: the per-round table and plot for `dvc metrics` / `dvc plots` and for people.

Reads params `evaluated` (the rounds, from `rounds`); `evaluations/`, `data/pruned/`. Writes
`metrics.json` (Pass@1 and greedy accuracy per round, for `dvc metrics show` / `dvc exp show`),
`reports/rounds.csv` (for `dvc plots show`), `reports/rounds.md` and `reports/pass_at_1.png`.
"""

from __future__ import annotations

import click

from stages.common import run
from think_prune_train.artifacts import write_json, write_text
from think_prune_train.params import load_params
from think_prune_train.report import collect, plot, to_markdown


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
def main(params_file: str) -> None:
    """Collect every round's metrics into one table, a metrics file and a plot."""
    rounds = load_params(params_file)["evaluated"]
    table = collect(rounds)
    final = table.iloc[-1]
    write_json(
        {
            "pass@1": {f"r{int(r)}": v for r, v in zip(table["round"], table["pass@1"])},
            "greedy": {f"r{int(r)}": v for r, v in zip(table["round"], table["greedy_accuracy"])},
            "gain": round(float(final["pass@1"] - table.iloc[0]["pass@1"]), 6),
        },
        "metrics.json",
    )
    csv_text = table[["round", "pass@1", "pass@1_flexible", "greedy_accuracy"]].to_csv(index=False)
    write_text(csv_text, "reports/rounds.csv")
    markdown = to_markdown(table)
    write_text(markdown, "reports/rounds.md")
    plot(table, "reports/pass_at_1.png")
    click.echo(markdown, nl=False)


if __name__ == "__main__":
    run(main)
