"""Tree search against sampling at equal generated tokens: which feeds self-improvement better?

For each seed, two full pipelines in fresh copies of the repository (tracked files only) that
share this repository's DVC cache, so the second restores prepare, base and evaluate@r0 from the
run-cache:
- sample: the default configuration (generate.samples_per_question solutions per question);
- mcts: generate.method=mcts with generate.mcts.token_budget=<budget> generated tokens per question,
  chosen so that it spends about what sampling spends (the table prints what each really spent).

Per round it reports generated tokens per question (counted with the generating model's tokenizer,
the same way for both), graded solutions per question, the share of questions with at least one
correct solution (coverage), correct traces kept per question (after prune), preference pairs,
and Pass@1 / greedy accuracy on the held-out questions, overall and per difficulty.

    python bench/mcts_budget.py                        # seeds 0 1 2, budget 90 (about sampling's 116 spent)
    python bench/mcts_budget.py --seeds 0 --token-budget 300 -- generate.samples_per_question=12
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import click
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from self_improve import REPO, new_copy, sh, spread  # noqa: E402
from think_prune_train.hardware import machine_line


def generation_stats(root: Path, round_: str, previous: str) -> dict[str, float]:
    """Tokens and solutions per question of one round's generation, counted the same way for both methods."""
    from transformers import AutoTokenizer

    traces = pd.read_parquet(root / "data" / "generated" / f"{round_}.parquet")
    tree = pd.read_parquet(root / "data" / "generated" / f"{round_}-tree.parquet")
    questions = traces["question_id"].nunique()
    if len(tree):
        tokens = int(tree["tokens"].sum())
    else:
        tokenizer = AutoTokenizer.from_pretrained(root / "models" / previous)
        tokens = sum(len(ids) for ids in tokenizer(traces["completion"].tolist(), add_special_tokens=False)["input_ids"])
    stats = json.loads((root / "data" / "pruned" / f"{round_}-stats.json").read_text())
    pairs = pd.read_parquet(root / "data" / "pairs" / f"{round_}.parquet")
    return {
        "tokens": tokens / questions, "solutions": len(traces) / questions, "coverage": stats["coverage"],
        "accuracy": stats["accuracy"], "kept": stats["kept"] / questions, "pairs": len(pairs) / questions,
        "depth": float(tree["depth"].max()) if len(tree) else 1.0,
    }


def run_arm(seed: int, overrides: list[str], cache: Path) -> dict:
    """One pipeline; returns per-round generation stats and evaluation metrics, and its minutes."""
    with tempfile.TemporaryDirectory(prefix=f"tpt-mcts-{seed}-") as folder:
        root = Path(folder)
        params = new_copy(root, seed, overrides, cache)
        started = time.perf_counter()
        sh([sys.executable, "-m", "dvc", "repro"], root)
        minutes = (time.perf_counter() - started) / 60
        rounds = {}
        for name in params["evaluated"]:
            metrics = json.loads((root / "evaluations" / name / "metrics.json").read_text())
            row = {"pass@1": metrics["pass@1"], "greedy": metrics["greedy_accuracy"],
                   "by_difficulty": metrics.get("by_difficulty", {})}
            if name in params["schedule"]:
                row.update(generation_stats(root, name, params["schedule"][name]))
            rounds[name] = row
        return {"rounds": rounds, "minutes": minutes}


def mean(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    return f"{statistics.mean(values) * scale:.{digits}f}"


def print_tables(results: dict[str, dict[int, dict]], seeds: tuple[int, ...]) -> None:
    arms = list(results)
    rounds = list(results[arms[0]][seeds[0]]["rounds"])
    click.echo(machine_line())
    click.echo(f"\nGeneration per round (mean over seeds {', '.join(map(str, seeds))}; per training question)\n")
    click.echo("| round | method | tokens | solutions | coverage % | correct % | kept | pairs | deepest step |")
    click.echo("|---|---|---|---|---|---|---|---|---|")
    for name in rounds[1:]:
        for arm in arms:
            rows = [results[arm][s]["rounds"][name] for s in seeds]
            click.echo(
                f"| {name} | {arm} | {mean([r['tokens'] for r in rows], digits=0)} | {mean([r['solutions'] for r in rows], digits=2)} "
                f"| {mean([r['coverage'] for r in rows], 100)} | {mean([r['accuracy'] for r in rows], 100)} "
                f"| {mean([r['kept'] for r in rows], digits=2)} | {mean([r['pairs'] for r in rows], digits=3)} "
                f"| {mean([r['depth'] for r in rows], digits=1)} |"
            )
    click.echo(f"\nHeld-out Pass@1 / greedy, % (mean ± sd over seeds {', '.join(map(str, seeds))})\n")
    click.echo("| round | " + " | ".join(f"{arm} Pass@1 | {arm} greedy" for arm in arms) + " |")
    click.echo("|---|" + "---|---|" * len(arms))
    for name in rounds:
        cells = []
        for arm in arms:
            rows = [results[arm][s]["rounds"][name] for s in seeds]
            cells += [spread([r["pass@1"] for r in rows]), spread([r["greedy"] for r in rows])]
        click.echo(f"| {name} | " + " | ".join(cells) + " |")
    for arm in arms:
        gains = [results[arm][s]["rounds"][rounds[-1]]["pass@1"] - results[arm][s]["rounds"][rounds[0]]["pass@1"] for s in seeds]
        per_seed = ", ".join(f"{100 * g:+.1f}" for g in gains)
        click.echo(f"\n{arm}: Pass@1 gain {rounds[0]} -> {rounds[-1]} {spread(gains)} points (per seed {per_seed}); "
                   f"{mean([results[arm][s]['minutes'] for s in seeds])} minutes per pipeline")
    levels = sorted({level for arm in arms for s in seeds for level in results[arm][s]["rounds"][rounds[0]]["by_difficulty"]}, key=int)
    click.echo("\nPer difficulty level (terms; test questions in brackets), Pass@1 / greedy, % (mean over seeds)\n")
    counts = {level: results[arms[0]][seeds[0]]["rounds"][rounds[0]]["by_difficulty"][level]["questions"] for level in levels}
    click.echo("| round | method | " + " | ".join(f"{level} ({counts[level]})" for level in levels) + " |")
    click.echo("|---|---|" + "---|" * len(levels))
    for name in rounds:
        for arm in arms:
            cells = []
            for level in levels:
                values = [results[arm][s]["rounds"][name]["by_difficulty"][level] for s in seeds]
                cells.append(f"{mean([v['pass@1'] for v in values], 100)} / {mean([v['greedy_accuracy'] for v in values], 100)}")
            click.echo(f"| {name} | {arm} | " + " | ".join(cells) + " |")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--seeds", type=int, multiple=True, default=(0, 1, 2), show_default=True, help="Seeds to run (repeat).")
@click.option("--token-budget", default=90, show_default=True,
              help="generate.mcts.token_budget of the mcts arm (checked between simulations, so it overshoots a little).")
@click.argument("overrides", nargs=-1)
def main(seeds: tuple[int, ...], token_budget: int, overrides: tuple[str, ...]) -> None:
    """Run sampling and tree search for each seed and print generation and accuracy tables."""
    cache = REPO / ".dvc" / "cache"
    arms = {"sample": list(overrides),
            "mcts": [*overrides, "generate.method=mcts", f"generate.mcts.token_budget={token_budget}"]}
    results: dict[str, dict[int, dict]] = {arm: {} for arm in arms}
    for seed in seeds:
        for arm, arm_overrides in arms.items():
            results[arm][seed] = run_arm(seed, arm_overrides, cache)
            click.echo(f"  seed {seed} {arm}: {results[arm][seed]['minutes']:.1f} min", err=True)
    click.echo(f"\noverrides: {' '.join(overrides) or '(default configuration)'}; mcts arm: {' '.join(arms['mcts'][len(overrides):])}")
    print_tables(results, seeds)


if __name__ == "__main__":
    main()
