"""Per round of a finished run: accuracy strict and flexible, and how the answers are written.

Reads a run's folder (a `--keep` copy of bench/self_improve.py, or this repository after
`dvc repro`): `evaluations/rN/rows.parquet` for every evaluated round and `data/pruned/rN-stats.json`.
Prints, per round, Pass@1 and greedy accuracy under strict grading (the `####` line) and flexible
grading (the last number), the share of completions that write `####` (sampled and greedy), the
mean completion length in characters, and the traces prune kept for that round.

    python bench/answer_format.py /tmp/keep/seed-0
    python bench/answer_format.py /tmp/keep/seed-0 /tmp/keep-zero-shot/seed-0   # one table per folder
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd
import yaml


def run_params(root: Path) -> dict:
    if not (root / "params.yaml").is_file():
        raise click.ClickException(f"{root} has no params.yaml: give the folder of a run (a --keep copy, or the repository)")
    return yaml.safe_load((root / "params.yaml").read_text())


def round_table(root: Path) -> pd.DataFrame:
    params = run_params(root)
    rows = []
    for name in params["evaluated"]:
        if not (root / "evaluations" / name / "rows.parquet").is_file():  # a run still under way
            continue
        graded = pd.read_parquet(root / "evaluations" / name / "rows.parquet")
        sampled, greedy = graded[graded["sample"] >= 0], graded[graded["sample"] < 0]
        stats_file = root / "data" / "pruned" / f"{name}-stats.json"
        kept = json.loads(stats_file.read_text())["kept"] if stats_file.is_file() else None
        rows.append({
            "round": name,
            "Pass@1 strict": 100 * sampled["correct"].mean(), "Pass@1 flexible": 100 * sampled["correct_flexible"].mean(),
            "greedy strict": 100 * greedy["correct"].mean(), "greedy flexible": 100 * greedy["correct_flexible"].mean(),
            "#### sampled": 100 * sampled["completion"].str.contains("####", regex=False).mean(),
            "#### greedy": 100 * greedy["completion"].str.contains("####", regex=False).mean(),
            "chars": sampled["completion"].str.len().mean(),
            "kept": kept,
        })
    return pd.DataFrame(rows)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
def main(folders: tuple[Path, ...]) -> None:
    for root in folders:
        params = run_params(root)
        click.echo(f"\n{root}: prompt.fewshot={params['prompt'].get('fewshot', 0)}, "
                   f"evaluate.fewshot={params['evaluate'].get('fewshot')}, train.prompt={params['train'].get('prompt')}, "
                   f"prune.grading={params['prune']['grading']}; accuracy and #### shares in %\n")
        click.echo(round_table(root).to_markdown(index=False, floatfmt=".1f"))


if __name__ == "__main__":
    main()
