"""How many few-shot examples does a pretrained model need to answer in the task's format?

Greedy completions of the base model (SmolLM2-135M-Instruct by default) for the test questions,
with 0, 1, 2, 4 and 8 worked examples before each question, graded strictly (the `####` line)
and flexibly (the last number). Also: how many completions stop at `max_new_tokens`, their mean
length, and the seconds each setting took; for the largest count, the same prompts once more
with the shared opening recomputed in every row (hf.MIN_SHARED_TOKENS raised out of reach), so
the saving of computing it once is a ratio measured in one run.

The model and the questions come from a copy of this repository with params composed from conf/
(`prepare` and `base` run there, restored from the run-cache when an earlier run made them):

    python bench/fewshot_probe.py                              # SmolLM2 on chain_sum_easy
    python bench/fewshot_probe.py --shots 0 --shots 4 -- model=smollm2-135m task=gsm8k
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import click
import pandas as pd

from self_improve import new_copy, sh
from think_prune_train.hardware import machine_line

REPO = Path(__file__).resolve().parents[1]


def measure(backend, test, prompt, examples, max_new_tokens, verifier) -> dict:
    from think_prune_train.generation.backends import Request, Sampling
    from think_prune_train.prompts import render_prompt
    from think_prune_train.verify.grading import grade

    tokenizer = backend.tokenizer
    texts = [render_prompt(question, prompt, tokenizer, examples) for question in test["question"]]
    started = time.perf_counter()
    completions = backend.generate([Request(text, 0) for text in texts], Sampling(0.0, 1.0, max_new_tokens))
    seconds = time.perf_counter() - started
    graded = grade(pd.Series(completions), test["answer"].reset_index(drop=True), verifier)
    lengths = [len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in completions]
    return {
        "prompt tokens": max(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts),
        "strict %": 100 * graded["correct"].mean(), "flexible %": 100 * graded["correct_flexible"].mean(),
        "#### %": 100 * sum("####" in text for text in completions) / len(completions),
        "cut %": 100 * sum(length >= max_new_tokens for length in lengths) / len(lengths),
        "tokens": sum(lengths) / len(lengths), "seconds": seconds,
    }


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--shots", type=click.IntRange(0, 64), multiple=True, default=(0, 1, 2, 4, 8), show_default=True,
              help="Few-shot example counts to try (repeat).")
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), multiple=True, default=(64,), show_default=True,
              help="Token limits to try for the zero-shot prompt (repeat); few-shot prompts use the first.")
@click.argument("overrides", nargs=-1)
def main(shots: tuple[int, ...], max_new_tokens: tuple[int, ...], overrides: tuple[str, ...]) -> None:
    from think_prune_train.generation.backends import hf
    from think_prune_train.generation.backends.hf import TransformersBackend
    from think_prune_train.params import load_params, load_section

    overrides = overrides or ("model=smollm2-135m", "task=chain_sum_easy")
    click.echo(machine_line())
    click.echo(f"\noverrides: {' '.join(overrides)}; prompt.fewshot={max(shots)} so prepare draws enough examples")
    with tempfile.TemporaryDirectory(prefix="tpt-fewshot-") as folder:
        root = Path(folder)
        new_copy(root, 0, [*overrides, f"prompt.fewshot={max(shots)}"], REPO / ".dvc" / "cache")
        sh([sys.executable, "-m", "dvc", "repro", "-s", "prepare", "base"], root)
        params = load_params(root / "params.yaml")
        prompt, verifier = load_section("prompt", params), load_section("verifier", params)
        test = pd.read_parquet(root / "data/problems/test.parquet")
        fewshot = pd.read_parquet(root / "data/problems/fewshot.parquet")
        examples = list(zip(fewshot["question"], fewshot["solution"]))
        backend = TransformersBackend(str(root / "models/r0"), batch_size=load_section("evaluate", params).batch_size)
        rows = []
        for count in shots:
            for limit in (max_new_tokens if count == 0 else max_new_tokens[:1]):
                rows.append({"shots": count, "max_new_tokens": limit, "opening": "once",
                             **measure(backend, test, prompt, examples[:count], limit, verifier)})
                click.echo(f"  {rows[-1]}", err=True)
        minimum, hf.MIN_SHARED_TOKENS = hf.MIN_SHARED_TOKENS, 10**9
        rows.append({"shots": max(shots), "max_new_tokens": max_new_tokens[0], "opening": "every row",
                     **measure(backend, test, prompt, examples[:max(shots)], max_new_tokens[0], verifier)})
        hf.MIN_SHARED_TOKENS = minimum
    table = pd.DataFrame(rows)
    click.echo(f"\nGreedy, base model, {len(test)} test questions (seed 0 split); 'opening': a batch's shared "
               f"opening computed once where it is 64 tokens or more (the default), or in every row\n")
    click.echo(table.to_markdown(index=False, floatfmt=".1f"))
    largest = table[(table["shots"] == max(shots)) & (table["max_new_tokens"] == max_new_tokens[0])]
    once, every = largest.iloc[0], largest.iloc[-1]
    same = (once[["strict %", "flexible %", "#### %"]] == every[["strict %", "flexible %", "#### %"]]).all()
    click.echo(f"\n{max(shots)} shots: opening once is {every['seconds'] / once['seconds']:.1f}x faster than in every "
               f"row; same grades: {bool(same)}")


if __name__ == "__main__":
    main()
