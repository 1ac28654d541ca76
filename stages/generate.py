"""generate@rN: the previous round's model thinks: several solutions per training question.

Reads params `seed`, `prompt`, `generate`, `verifier` (mcts grades its rollouts), `base.trust_remote_code`,
`vllm`, `ray` (generation spread over Ray workers); `models/<previous>`, `data/problems/train.parquet`,
and the few-shot examples `data/problems/fewshot.parquet` (`prompt.fewshot` of them).
Writes `data/generated/<round>.parquet` (schema `Traces`) and `data/generated/<round>-tree.parquet`
(schema `TreeNodes`). With `generate.method: sample`, sample s of question q in round r is drawn with
seed (seed, r, q, s) and the tree file has no rows; with `mcts` the traces are every solution the
tree search graded (think_prune_train.generation.mcts) and the tree file holds its nodes. Either way the bytes
depend on the params and the model alone.

Every path it reads or writes comes from its command line; those named here are the ones dvc.yaml gives.
"""

from __future__ import annotations

import click

from stages.common import RESUME_ROOT, fewshot_examples, round_option, run
from think_prune_train.artifacts import Problems, Traces, TreeNodes, read_frame, write_frame
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
def main(round_: str, model_path: str, params_file: str, problems: str, fewshot: str, out: str | None,
         tree_out: str | None) -> None:
    """Sample solutions to the round's training questions."""
    out = writable(out or f"data/generated/{round_}.parquet")
    tree_out = writable(tree_out or out.with_name(f"{out.stem}-tree.parquet"), "--tree")
    writable(RESUME_ROOT, "the resume folder")
    params = load_params(params_file)
    prompt, generate, seed = load_section("prompt", params), load_section("generate", params), seed_of(params)
    pool = read_frame(problems, Problems).set_index("question_id")
    examples = fewshot_examples(fewshot, prompt.fewshot, "prompt.fewshot")
    chosen = questions_for_round(pool.index.tolist(), round_, generate.questions_per_round, seed)
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
    click.echo(f"generate@{round_}: {done} -> {out}")


if __name__ == "__main__":
    run(main)
