"""prepare: questions with ground-truth answers from the configured task.

Reads params `seed`, `prepare`, `verifier` (every gold answer must be one it can read),
`prompt.fewshot` and `evaluate.fewshot`. Writes `data/problems/{train,test,warmup}.parquet` (schema
`Problems`), three splits that never share a question and hold one difficulty mix;
`data/problems/fewshot.parquet` (schema `Problems`): the worked examples of few-shot prompts, as many
as the larger of the two fewshot keys asks for, drawn once from the warm-up split (never from test);
and `data/problems/mix.json`: the task's natural mix, the mix the splits share, and each split's
questions per difficulty level.

Every path it reads or writes comes from its command line; those named here are the ones dvc.yaml gives.
"""

from __future__ import annotations

from pathlib import Path

import click

from stages.common import run
from think_prune_train.artifacts import Problems, write_frame, write_json
from think_prune_train.params import load_params, load_section, seed_of
from stages.paths import writable
from think_prune_train.seeding import derive_seed
from think_prune_train.tasks import fewshot_examples, split_with_mix
from think_prune_train.verify.gold import check_answers


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--out", default="data/problems", show_default=True, help="Folder for the split files.")
def main(params_file: str, out: str) -> None:
    """Build the train, test and warm-up question sets."""
    writable(out)
    params = load_params(params_file)
    prepare = load_section("prepare", params)
    verifier = load_section("verifier", params)
    splits, mix = split_with_mix(prepare, seed_of(params), verifier.kind)
    for name, frame in splits.items():  # every answer readable by the task's verifier, before a file is written
        check_answers(frame["answer"], verifier, f"prepare.task={prepare.task} ({name} split)")
    wanted = max(load_section("prompt", params).fewshot, load_section("evaluate", params).fewshot or 0)
    examples = fewshot_examples(splits, wanted, derive_seed(seed_of(params), "fewshot"))
    for name, frame in splits.items():
        write_frame(frame, Path(out) / f"{name}.parquet", Problems)
        levels = ", ".join(f"{level}: {count}" for level, count in mix["splits"][name].items())
        click.echo(f"prepare: {name}: {len(frame)} questions (by difficulty {levels}) -> {Path(out) / f'{name}.parquet'}")
    write_frame(examples, Path(out) / "fewshot.parquet", Problems)
    click.echo(f"prepare: few-shot: {len(examples)} worked examples -> {Path(out) / 'fewshot.parquet'}")
    write_json(mix, Path(out) / "mix.json")
    if not mix["one_mix"]:
        click.echo(
            "prepare: warning: the task has too few questions of some difficulty levels for one mix in every split; "
            f"the splits' mixes differ (see {Path(out) / 'mix.json'}). Smaller splits would share one mix.",
            err=True,
        )


if __name__ == "__main__":
    run(main)
