"""prune@rN: keep the round's correct traces, and pair correct with incorrect ones for DPO.

Reads params `seed`, `prune`, `verifier` (how a trace is judged correct), `curriculum` (whether the stats
give each difficulty level); `data/generated/<round>.parquet` and, from a tree search,
`data/generated/<round>-tree.parquet` (pairs then come from sibling steps); the tokenizer of the model being
trained (`--tokenizer`, models/<previous>) to count trace lengths in its tokens; the training questions
`data/problems/train.parquet` for their difficulty levels. Writes
`data/pruned/<round>.parquet` (schema `Pruned`), `data/pruned/<round>-stats.json` (traces in,
correct, kept, coverage, and what each selection option dropped) and `data/pairs/<round>.parquet`
(schema `Pairs`).

With `prune.filter: majority` (or `majority+length`) a trace is judged by its question's majority
answer (think_prune_train.selection.labels), never by the gold answer: the gold answer only measures
the pseudo-labels' precision for the stats. With a curriculum or a label-free filter the stats give
each difficulty level (`by_level`): traces, pass rate by the filter (what the curriculum's threshold
rule reads), gold accuracy, kept, and the pseudo-labels' precision.

Every path it reads or writes comes from its command line; those named here are the ones dvc.yaml gives.
"""

from __future__ import annotations

from pathlib import Path

import click

from stages.common import round_option, run
from stages.paths import writable
from think_prune_train.artifacts import Pairs, Problems, Pruned, Traces, TreeNodes, read_frame, write_frame, write_json
from think_prune_train.checkpoints import check_model_source
from think_prune_train.params import load_params, load_section, seed_of
from think_prune_train.seeding import derive_seed
from think_prune_train.selection.labels import (
    VOTING_VERIFIERS, label_free_stats, label_report, level_stats, pseudo_verdicts,
)
from think_prune_train.selection.prune import grade_traces, preference_pairs, prune, token_lengths
from think_prune_train.verify.gold import check_answers


def trace_levels(traces, problems: str | None, round_: str):
    """Each trace's difficulty level, from the training questions."""
    if problems is None:
        raise click.ClickException(f"prune@{round_}: a curriculum or a label-free prune.filter needs --problems "
                                   f"(the training questions, for their difficulty levels)")
    difficulty = read_frame(problems, Problems).set_index("question_id")["difficulty"]
    missing = sorted(set(traces["question_id"]) - set(difficulty.index))
    if missing:
        raise click.ClickException(f"prune@{round_}: {len(missing)} traced question(s) are not in {problems} "
                                   f"(e.g. {missing[0]}): run prepare and generate with the same params")
    return difficulty.reindex(traces["question_id"]).set_axis(traces.index)


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
@click.option("--problems", default=None,
              help="The training questions, for their difficulty levels (a label-free filter or a curriculum "
                   "needs them), e.g. data/problems/train.parquet.")
def main(round_: str, tokenizer_path: str | None, params_file: str, traces_file: str, tree_file: str | None, out: str,
         stats_out: str, pairs_out: str, problems: str | None) -> None:
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
    label_free = settings.filter != "answer"
    levels = None
    if label_free or load_section("curriculum", params).active:
        levels = trace_levels(traces, problems, round_)
    if label_free:
        if verifier.kind not in VOTING_VERIFIERS:
            raise click.ClickException(
                f"prune@{round_}: prune.filter={settings.filter} votes on numeric answers; verifier.kind "
                f"{verifier.kind} judges answers that a vote cannot compare exactly: use prune.filter=answer"
            )
        lengths, _ = token_lengths(traces["completion"], tokenizer)
        judged, labels, counts = pseudo_verdicts(traces, settings, lengths, levels)
    # With a label-free filter the gold verdicts only go into the stats: `prune` sees `judged`.
    correct = grade_traces(traces, settings.grading, verifier, progress=f"prune@{round_}")
    if not label_free:
        judged = correct
    kept, stats = prune(traces, settings, derive_seed(seed, round_, "prune"), correct=judged, tokenizer=tokenizer)
    label_right = None
    if label_free:
        label_right = label_report(traces, labels, verifier)
        stats.update(filter=settings.filter, **label_free_stats(traces, correct, kept, label_right, counts))
    if levels is not None:
        stats["by_level"] = level_stats(traces, levels, judged, correct, kept, labels if label_free else None,
                                        label_right)
    if kept.empty:
        judged_how = f"{settings.grading} grading" if not label_free else f"prune.filter={settings.filter}"
        raise click.ClickException(
            f"prune@{round_}: none of {stats['traces']} traces was correct ({judged_how}), so there is "
            f"nothing to train on. Raise generate.samples_per_question or generate.temperature, raise "
            f"generate.max_new_tokens if answers are cut off, use prune.grading=flexible, or start from a stronger "
            f"base model (base.*)."
        )
    tree = read_frame(tree_file, TreeNodes) if tree_file and Path(tree_file).exists() else None
    pairs = preference_pairs(traces, settings, judged, tree)
    write_frame(kept, out, Pruned)
    write_frame(pairs, pairs_out, Pairs)
    write_json(stats, stats_out)
    extra = "".join(f", {key} {stats[key]}" for key in ("questions_compressed", "dropped_too_long",
                                                        "dropped_bad_format", "dropped_long_share") if key in stats)
    click.echo(
        f"prune@{round_}: {stats['correct']}/{stats['traces']} correct, kept {stats['kept']} ({settings.select}), "
        f"{stats['questions_with_correct']}/{stats['questions']} questions covered{extra}; {len(pairs)} DPO pairs{' (sibling steps)' if tree is not None and len(tree) else ''}"
    )
    if label_free:
        click.echo(f"prune@{round_}: {stats['questions_labelled']}/{stats['questions']} questions pseudo-labelled, "
                   f"precision {stats['pseudo_label_precision']}; kept traces right: {stats['kept_precision']}")


if __name__ == "__main__":
    run(main)
