"""generate@rN: the previous round's model thinks: several solutions per training question.

Reads params `seed`, `prompt`, `generate`, `curriculum` (which difficulty levels the round draws from),
`verifier` (mcts grades its rollouts), `base.trust_remote_code`, `vllm`, `ray` (generation spread over Ray
workers); `models/<previous>`, `data/problems/train.parquet`, the few-shot examples
`data/problems/fewshot.parquet` (`prompt.fewshot` of them), and what the round's levels are decided from
(`--levels-from`): prepare's record of the splits' levels `data/problems/mix.json`, or under the
curriculum's threshold rule from round 2 on the previous round's prune stats `data/pruned/<previous>-stats.json`.
Writes `data/generated/<round>.parquet` (schema `Traces`) and `data/generated/<round>-tree.parquet`
(schema `TreeNodes`). With `generate.method: sample`, sample s of question q in round r is drawn with
seed (seed, r, q, s) and the tree file has no rows; with `mcts` the traces are every solution the
tree search graded (think_prune_train.generation.mcts) and the tree file holds its nodes. Either way the bytes
depend on the params and the model alone.

Every path it reads or writes comes from its command line; those named here are the ones dvc.yaml gives.
"""

from __future__ import annotations

import json

import click
import pandas as pd

from stages.common import RESUME_ROOT, fewshot_examples, round_option, run
from think_prune_train.artifacts import Problems, Traces, TreeNodes, read_frame, write_frame
from think_prune_train.curriculum import THRESHOLD, round_levels
from think_prune_train.generation.backends import open_backend
from think_prune_train.generation.mcts import empty_tree, search
from think_prune_train.generation.resume import clear
from think_prune_train.generation.sampling import think
from think_prune_train.params import backend_sections, load_params, load_section, seed_of
from stages.paths import writable
from think_prune_train.schedule import questions_for_round
from think_prune_train.seeding import derive_seed


@click.command()
@click.option("--round", "round_", required=True, callback=round_option, help="Round being generated for, e.g. r1.")
@click.option("--model", "model_path", required=True, help="Model folder that generates, e.g. models/r0.")
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--problems", default="data/problems/train.parquet", show_default=True, help="Training questions.")
@click.option("--fewshot", default="data/problems/fewshot.parquet", show_default=True,
              help="Worked examples for few-shot prompts (prepare writes them).")
@click.option("--out", default=None, help="Output file [default: data/generated/<round>.parquet].")
@click.option("--tree", "tree_out", default=None, help="Tree file [default: the output file's name + -tree].")
@click.option("--levels-from", default="data/problems/mix.json", show_default=True,
              help="What the round's difficulty levels are decided from: prepare's mix record, or the previous "
                   "round's prune stats (curriculum.rule threshold).")
def main(round_: str, model_path: str, params_file: str, problems: str, fewshot: str, out: str | None,
         tree_out: str | None, levels_from: str) -> None:
    """Sample solutions to the round's training questions."""
    out = writable(out or f"data/generated/{round_}.parquet")
    tree_out = writable(tree_out or out.with_name(f"{out.stem}-tree.parquet"), "--tree")
    writable(RESUME_ROOT, "the resume folder")
    params = load_params(params_file)
    prompt, generate, seed = load_section("prompt", params), load_section("generate", params), seed_of(params)
    pool = read_frame(problems, Problems).set_index("question_id")
    examples = fewshot_examples(fewshot, prompt.fewshot, "prompt.fewshot")
    levels = chosen_levels(round_, load_section("curriculum", params), levels_from, pool)
    candidates = pool.index.tolist() if levels is None else pool.index[pool["difficulty"].isin(levels)].tolist()
    chosen = questions_for_round(candidates, round_, generate.questions_per_round, seed)
    backend = open_backend(generate, model_path, derive_seed(seed, "generate", round_), **backend_sections(params))
    label = f"generate@{round_}"
    if generate.method == "mcts":
        traces, tree = search(backend, pool, chosen, round_, prompt, generate, load_section("verifier", params), seed,
                              label=label, model_path=model_path, resume_root=RESUME_ROOT, examples=examples)
        done = f"{len(chosen)} trees, {len(tree)} nodes, {len(traces)} graded solutions, {tree['tokens'].sum()} tokens"
    else:
        traces = think(backend, pool, chosen, round_, prompt, generate, seed, label=label, model_path=model_path,
                       resume_root=RESUME_ROOT, examples=examples)
        tree, done = empty_tree(), f"{len(chosen)} questions x {generate.samples_per_question} samples"
    write_frame(tree, tree_out, TreeNodes)
    write_frame(traces, out, Traces)
    clear(label, RESUME_ROOT)
    at_levels = "" if levels is None else f" at levels {', '.join(map(str, levels))}"
    click.echo(f"generate@{round_}: {done}{at_levels} -> {out}")


def chosen_levels(round_: str, curriculum, levels_from: str, pool: pd.DataFrame) -> list[int] | None:
    """The difficulty levels the round draws from (None: the whole pool), each checked to have questions."""
    if not curriculum.active:
        return None
    record = _read_json(levels_from, "--levels-from")
    if curriculum.rule == THRESHOLD and round_ != "r1":
        try:
            levels = round_levels(round_, curriculum.levels, curriculum.rule, threshold=curriculum.threshold,
                                  cap=curriculum.max_level or int(pool["difficulty"].max()), window=curriculum.window,
                                  previous_stats=record)
        except KeyError:
            raise click.ClickException(
                f"generate@{round_}: {levels_from} has no pass rates by level (by_level): it is not the prune stats "
                f"of a round run with a curriculum; run the rounds before with the same curriculum params"
            ) from None
        available = set(pool["difficulty"])
    else:
        levels = round_levels(round_, curriculum.levels, curriculum.rule, window=curriculum.window)
        available = {int(level) for level in record.get("splits", {}).get("train", {})} if "splits" in record \
            else set(pool["difficulty"])
    if levels is None:
        return None
    missing = sorted(set(levels) - available)
    if missing:
        raise click.ClickException(
            f"generate@{round_}: the curriculum asks for difficulty level(s) {', '.join(map(str, missing))}, but the "
            f"training pool has none (its levels: {', '.join(map(str, sorted(available)))}); add them with "
            f"prepare.harder (e.g. prepare.harder.task_options={{min_terms:6,max_terms:10}} and "
            f"prepare.harder.train_questions), or change curriculum.levels / curriculum.max_level"
        )
    return levels


def _read_json(path: str, option: str) -> dict:
    try:
        record = json.loads(open(path, encoding="utf-8").read())
    except FileNotFoundError:
        raise click.ClickException(f"{option} {path} is missing: `dvc repro` runs the stage that writes it") from None
    except ValueError as error:
        raise click.ClickException(f"{option} {path} is not valid JSON: {error}") from None
    if not isinstance(record, dict):
        raise click.ClickException(f"{option} {path} must hold a JSON object")
    return record


if __name__ == "__main__":
    run(main)
