"""prune@rN: keep the round's correct traces.

Reads params `seed`, `prune`; `data/generated/<round>.parquet`. Writes `data/pruned/<round>.parquet`
(schema `Pruned`) and `data/pruned/<round>-stats.json` (traces in, correct, kept, coverage).
"""

from __future__ import annotations

import click

from stages.common import round_option, run
from think_prune_train.artifacts import Pruned, Traces, read_frame, write_frame, write_json
from think_prune_train.seeding import derive_seed
from think_prune_train.params import load_params, load_section, seed_of
from think_prune_train.pruning import prune


@click.command()
@click.option("--round", "round_", required=True, callback=round_option, help="Round to prune, e.g. r1.")
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
def main(round_: str, params_file: str) -> None:
    """Grade the round's traces and keep the correct ones."""
    params = load_params(params_file)
    settings, seed = load_section("prune", params), seed_of(params)
    traces = read_frame(f"data/generated/{round_}.parquet", Traces)
    kept, stats = prune(traces, settings, derive_seed(seed, round_, "prune"))
    if kept.empty:
        raise click.ClickException(
            f"prune@{round_}: none of {stats['traces']} traces was correct ({settings.grading} grading), so there is "
            f"nothing to train on. Raise generate.samples_per_question or generate.temperature, raise "
            f"generate.max_new_tokens if answers are cut off, use prune.grading=flexible, or start from a stronger "
            f"base model (base.*)."
        )
    write_frame(kept, f"data/pruned/{round_}.parquet", Pruned)
    write_json(stats, f"data/pruned/{round_}-stats.json")
    click.echo(
        f"prune@{round_}: {stats['correct']}/{stats['traces']} correct, kept {stats['kept']}, "
        f"{stats['questions_with_correct']}/{stats['questions']} questions covered"
    )


if __name__ == "__main__":
    run(main)
