"""train@rN: fine-tuning (TRL) on the round's pruned traces (SFT) or preference pairs (DPO, DPO + SFT).

Reads params `seed`, `train`, `prompt`, `base.trust_remote_code`; `data/pruned/<round>.parquet` (SFT),
`data/pairs/<round>.parquet` (DPO) and the starting model: the previous round's
(`train.init_from: previous`, the paper) or the base model r0 (`base`, STaR / ReST-EM). With
`train.prompt: zero_shot` every example is prompted anew from its question in
`data/problems/train.parquet` without the few-shot examples it was sampled with.
Writes `models/<round>` (a plain Hugging Face folder, safetensors) and `data/train_logs/<round>.json`
(examples, start model, first and last logged loss, processes; for DPO objectives also TRL's
per-step rewards, margins and log-probabilities under "log"), and with `--curves` the training curves
(DVCLive: loss, learning rate, gradient norm, and DPO's rewards, margins and log-probabilities).

Runs as one process (`train.launcher: python`) or as several under `accelerate launch` (GPUs, or CPU
processes over gloo); then every process trains its share of each batch and only the first writes.

Every path it reads or writes comes from its command line; those named here are the ones dvc.yaml gives.
"""

from __future__ import annotations

import tempfile

import click

from stages.common import round_option, run
from stages.paths import writable
from think_prune_train.artifacts import Pairs, Problems, Pruned, read_frame, write_json
from think_prune_train.checkpoints import load_model, save_model
from think_prune_train.params import load_params, load_section, seed_of
from think_prune_train.prompts import zero_shot
from think_prune_train.seeding import derive_seed
from think_prune_train.training.dpo import dpo, step_log
from think_prune_train.training.sft import is_main_process, loss_summary, process_count, run_record, sft


@click.command()
@click.option("--round", "round_", required=True, callback=round_option, help="Round to train, e.g. r1.")
@click.option("--previous", required=True, help="The previous round's model, e.g. models/r0.")
@click.option("--base", "base_model", required=True, help="The base model, e.g. models/r0 (train.init_from: base).")
@click.option("--pruned", required=True, help="The round's kept traces (SFT), e.g. data/pruned/r1.parquet.")
@click.option("--pairs", required=True, help="The round's preference pairs (DPO), e.g. data/pairs/r1.parquet.")
@click.option("--problems", default="data/problems/train.parquet", show_default=True,
              help="The training questions, read with train.prompt: zero_shot to prompt them anew.")
@click.option("--out", required=True, help="Where to save the trained model, e.g. models/r1.")
@click.option("--log", "log_out", required=True, help="Training log, e.g. data/train_logs/r1.json.")
@click.option("--curves", default=None, help="Folder for the training curves (DVCLive), e.g. data/train_curves/r1.")
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
def main(round_: str, previous: str, base_model: str, pruned: str, pairs: str, problems: str, out: str, log_out: str,
         curves: str | None, params_file: str) -> None:
    """Fine-tune on the round's kept traces and save the model."""
    out, log_out = writable(out), writable(log_out, "--log")
    curves = writable(curves, "--curves") if curves else None
    params = load_params(params_file)
    train, seed = load_section("train", params), seed_of(params)
    objective = train.objective_for(round_)
    if objective == "sft":
        examples = read_frame(pruned, Pruned)
    else:
        examples = read_frame(pairs, Pairs)
        if examples.empty:
            raise click.ClickException(
                f"train@{round_}: objective {objective} needs preference pairs, but {pairs} is "
                f"empty: no question had both a correct and an incorrect trace (or prune.pairs_per_question is 0). "
                f"Raise prune.pairs_per_question or generate.samples_per_question, or use train.objective=sft."
            )
    start = previous if train.init_from == "previous" else base_model
    model, tokenizer = load_model(start, trust_remote_code=load_section("base", params).trust_remote_code)
    if train.prompt == "zero_shot":
        questions = read_frame(problems, Problems).set_index("question_id")["question"]
        try:
            examples = zero_shot(examples, questions, load_section("prompt", params), tokenizer)
        except KeyError as error:
            raise click.ClickException(f"train@{round_}: train.prompt is zero_shot, but {error.args[0]} ({problems})")
    with tempfile.TemporaryDirectory() as work_dir:
        seed_for_round = derive_seed(seed, round_, "train") % 2**31
        if objective == "sft":
            model, log = sft(model, tokenizer, examples, train, seed_for_round, work_dir, curves=curves)
        else:
            model, log = dpo(model, tokenizer, examples, train, seed_for_round, work_dir, objective, curves=curves)
    if not is_main_process():
        return
    save_model(model, tokenizer, out)
    summary = {"examples": len(examples), "start": start, **loss_summary(log), **run_record(train)}
    if train.prompt != "as_sampled":  # as do logs of traces trained with the prompt they were sampled with
        summary["prompt"] = train.prompt
    if process_count() > 1:  # single-process logs keep their earlier form (and hashes)
        summary["processes"] = process_count()
    if objective != "sft":  # SFT logs keep their earlier form too
        summary["objective"] = objective
        summary["learning_rate"] = train.learning_rate_for(objective)
        summary["log"] = step_log(log)
    write_json(summary, log_out)
    click.echo(
        f"train@{round_}: {objective} on {len(examples)} examples from {start} -> {out} "
        f"({process_count()} process(es))"
    )


if __name__ == "__main__":
    run(main)
