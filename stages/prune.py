"""prune@rN: keep the round's correct traces, and pair correct with incorrect ones for DPO.

Reads params `seed`, `prune`, `verifier` (how a trace is judged correct); `data/generated/<round>.parquet`
and, from a tree search, `data/generated/<round>-tree.parquet` (pairs then come from sibling steps); the tokenizer of the model being
trained (`--tokenizer`, models/<previous>) to count trace lengths in its tokens. Writes
`data/pruned/<round>.parquet` (schema `Pruned`), `data/pruned/<round>-stats.json` (traces in,
correct, kept, coverage, and what each selection option dropped) and `data/pairs/<round>.parquet`
(schema `Pairs`).

Every path it reads or writes comes from its command line; those named here are the ones dvc.yaml gives.
"""

from __future__ import annotations

from pathlib import Path

import click

from stages.common import round_option, run
from stages.paths import writable
from think_prune_train.artifacts import Pairs, Pruned, Traces, TreeNodes, read_frame, write_frame, write_json
from think_prune_train.checkpoints import check_model_source
from think_prune_train.params import load_params, load_section, seed_of
from think_prune_train.seeding import derive_seed
from think_prune_train.selection.prune import grade_traces, preference_pairs, prune
from think_prune_train.verify.gold import check_answers


@click.command()
@click.option("--round", "round_", required=True, callback=round_option, help="Round to prune, e.g. r1.")
@click.option(
    "--tokenizer", "tokenizer_path", default=None,
    help="Model folder whose tokenizer counts trace lengths (the model being trained) [default: characters].",
)
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--traces", "traces_file", required=True, help="The round's traces, e.g. data/generated/r1.parquet.")
@click.option("--tree", "tree_file", default=None, help="Their tree search's nodes (pairs then come from sibling steps).")
@click.option("--out", required=True, help="Kept traces, e.g. data/pruned/r1.parquet.")
@click.option("--stats", "stats_out", required=True, help="What was kept and dropped, e.g. data/pruned/r1-stats.json.")
@click.option("--pairs", "pairs_out", required=True, help="Preference pairs, e.g. data/pairs/r1.parquet.")
def main(round_: str, tokenizer_path: str | None, params_file: str, traces_file: str, tree_file: str | None, out: str,
         stats_out: str, pairs_out: str) -> None:
    """Grade the round's traces, keep the correct ones, and pair correct with incorrect ones."""
    out, stats_out, pairs_out = writable(out), writable(stats_out, "--stats"), writable(pairs_out, "--pairs")
    params = load_params(params_file)
    settings, seed = load_section("prune", params), seed_of(params)
    traces = read_frame(traces_file, Traces)
    tokenizer = None
    if tokenizer_path:
        from transformers import AutoTokenizer

        check_model_source(tokenizer_path)
        tokenizer = AutoTokenizer.from_pretrained(
            tokenizer_path, trust_remote_code=load_section("base", params).trust_remote_code
        )
    verifier = load_section("verifier", params)
    check_answers(traces["answer"], verifier, traces_file)
    correct = grade_traces(traces, settings.grading, verifier, progress=f"prune@{round_}")
    kept, stats = prune(traces, settings, derive_seed(seed, round_, "prune"), correct=correct, tokenizer=tokenizer)
    if kept.empty:
        raise click.ClickException(
            f"prune@{round_}: none of {stats['traces']} traces was correct ({settings.grading} grading), so there is "
            f"nothing to train on. Raise generate.samples_per_question or generate.temperature, raise "
            f"generate.max_new_tokens if answers are cut off, use prune.grading=flexible, or start from a stronger "
            f"base model (base.*)."
        )
    tree = read_frame(tree_file, TreeNodes) if tree_file and Path(tree_file).exists() else None
    pairs = preference_pairs(traces, settings, correct, tree)
    write_frame(kept, out, Pruned)
    write_frame(pairs, pairs_out, Pairs)
    write_json(stats, stats_out)
    extra = "".join(f", {key} {stats[key]}" for key in ("questions_compressed", "dropped_too_long",
                                                        "dropped_bad_format", "dropped_long_share") if key in stats)
    click.echo(
        f"prune@{round_}: {stats['correct']}/{stats['traces']} correct, kept {stats['kept']} ({settings.select}), "
        f"{stats['questions_with_correct']}/{stats['questions']} questions covered{extra}; {len(pairs)} DPO pairs{' (sibling steps)' if tree is not None and len(tree) else ''}"
    )


if __name__ == "__main__":
    run(main)
