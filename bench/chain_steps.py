"""Why a chain_sum loop stalls at a level: does the model write as many steps as the chain needs?

Reads kept runs (folders made by `bench/easy_to_hard.py --keep`, or any run of the pipeline) and
prints, per round and per level of the traces generate sampled: how many traces, the share that write
at least as many lines as the chain has steps (terms - 1; a line per step in both solution styles),
the share whose answer is right, and the share right with enough steps. A right answer with too few
steps came from skipped or merged terms: the answer filter keeps it, and training then teaches the skip.

    python bench/chain_steps.py /work/e2h/keep-schedule/schedule-seed-0 [--rounds r3 --rounds r8]
    python bench/chain_steps.py RUN --probe r2 --level 6 --temperature 0.5 --temperature 1.5

`--probe rN` samples RUN's model rN afresh on `--questions` training questions of `--level` at each
`--temperature` (8 samples a question, seed 0): can a hotter sampler find the longer chains?
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from think_prune_train.tasks.records import solution_steps
from think_prune_train.verify.numeric import is_correct


def round_table(run: Path, round_: str) -> pd.DataFrame:
    traces = pd.read_parquet(run / "data/generated" / f"{round_}.parquet")
    level = pd.read_parquet(run / "data/problems/train.parquet").set_index("question_id")["difficulty"]
    traces["level"] = level.loc[traces["question_id"]].to_numpy()
    traces["enough"] = [solution_steps(text) >= terms - 1 for text, terms in zip(traces["completion"], traces["level"])]
    traces["right"] = [is_correct(text, answer) for text, answer in zip(traces["completion"], traces["answer"])]
    traces["right_enough"] = traces["right"] & traces["enough"]
    table = traces.groupby("level").agg(traces=("completion", "size"), enough=("enough", "mean"), right=("right", "mean"),
                                        right_enough=("right_enough", "mean"))
    return table


def probe(run: Path, round_: str, level: int, temperatures: tuple[float, ...], questions: int, tokens: int) -> None:
    """Sample model `round_` of `run` at each temperature on `questions` training questions of `level`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    pool = pd.read_parquet(run / "data/problems/train.parquet")
    chosen = pool[pool["difficulty"] == level].head(questions)
    if chosen.empty:
        raise click.ClickException(f"{run}: no training questions at level {level}")
    tokenizer = AutoTokenizer.from_pretrained(run / "models" / round_)
    model = AutoModelForCausalLM.from_pretrained(run / "models" / round_).eval()
    tokenizer.padding_side = "left"
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    batch = tokenizer([f"{question}\n" for question in chosen["question"]], return_tensors="pt", padding=True)
    click.echo(f"\n## {run}: model {round_}, {len(chosen)} questions of {level} terms, 8 samples each\n")
    click.echo("| temperature | samples | enough steps, % | right, % | right with enough steps, % |")
    click.echo("|---|---|---|---|---|")
    for temperature in temperatures:
        torch.manual_seed(0)
        with torch.no_grad():
            out = model.generate(**batch, do_sample=True, temperature=temperature, max_new_tokens=tokens,
                                 num_return_sequences=8, pad_token_id=tokenizer.pad_token_id)
        texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
        answers = [answer for answer in chosen["answer"] for _ in range(8)]
        enough = [solution_steps(text) >= level - 1 for text in texts]
        right = [is_correct(text, answer) for text, answer in zip(texts, answers)]
        both = [a and b for a, b in zip(enough, right)]
        click.echo(f"| {temperature} | {len(texts)} | {100 * sum(enough) / len(texts):.1f} | "
                   f"{100 * sum(right) / len(texts):.1f} | {100 * sum(both) / len(texts):.1f} |")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--rounds", "chosen", multiple=True, help="Rounds to show (repeat; default: every generated round).")
@click.option("--probe", "probed", default=None, help="Instead, sample this round's model afresh (e.g. r2).")
@click.option("--level", type=click.IntRange(min=2), default=6, show_default=True, help="With --probe: chain length.")
@click.option("--temperature", "temperatures", type=click.FloatRange(min=0, min_open=True), multiple=True,
              default=(0.5, 1.0, 1.5), show_default=True, help="With --probe: temperatures (repeat).")
@click.option("--questions", type=click.IntRange(min=1, max=4096), default=128, show_default=True,
              help="With --probe: questions.")
@click.option("--max-new-tokens", "tokens", type=click.IntRange(min=1), default=96, show_default=True,
              help="With --probe: tokens per sample.")
def main(runs: tuple[Path, ...], chosen: tuple[str, ...], probed: str | None, level: int,
         temperatures: tuple[float, ...], questions: int, tokens: int) -> None:
    """Per round and level: traces, share with enough steps, share right, share right with enough steps."""
    if probed is not None:
        for run in runs:
            probe(run, probed, level, temperatures, questions, tokens)
        return
    for run in runs:
        rounds = chosen or sorted((path.stem for path in (run / "data/generated").glob("r*.parquet")
                                   if path.stem[1:].isdigit()), key=lambda name: int(name[1:]))
        click.echo(f"\n## {run}\n")
        click.echo("| round | level (terms) | traces | enough steps, % | right, % | right with enough steps, % |")
        click.echo("|---|---|---|---|---|---|")
        for round_ in rounds:
            for terms, row in round_table(run, round_).iterrows():
                click.echo(f"| {round_} | {terms} | {int(row['traces'])} | {100 * row['enough']:.1f} | {100 * row['right']:.1f} | "
                           f"{100 * row['right_enough']:.1f} |")


if __name__ == "__main__":
    main()
