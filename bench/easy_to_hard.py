"""Easy to hard: does a difficulty schedule with accumulated data reach beyond the warm-up's levels?

Three configurations on chain_sum (warm-up at 2-5 terms), each for every seed, with harder
questions (6-10 terms) in the test set and the training pool so that all three are scored on the
same questions:
- `today`: the loop as it is (every round at the warm-up's levels, its own data, gold answers);
- `schedule`: round 1 at 2-5 terms, each later round admitting the next level once the previous
  round's traces at its hardest level pass at `--threshold` or more (curriculum.rule=threshold),
  trained on the pruned traces of every round so far (train.data=accumulate);
- `schedule+majority`: the same, pruned without labels (prune.filter=majority): the gold answers
  only measure the pseudo-labels' precision.

Like bench/self_improve.py, each run is a fresh copy of the repository (tracked files only) with
params composed from conf/ plus the overrides, every stage executed one at a time with
`dvc repro --force -s`; all copies share this repository's DVC cache. It prints Pass@1 and greedy
accuracy per level and per round (mean over seeds, and per seed), the levels each round drew from,
and the pseudo-labels' precision per round and per level. The goal it measures: greedy accuracy of
50 % or more on 7-term chains within 8 rounds.

    python bench/easy_to_hard.py                             # seeds 0 1 2, 8 rounds, the three configurations
    python bench/easy_to_hard.py --seeds 0 --rounds 2 --harder-train 8 --harder-test 4 --max-new-tokens 24 \\
        -- +profile=micro                                    # a smoke run of the mechanics (minutes)
    python bench/easy_to_hard.py --seeds 0 --configs today --keep K --jsonl runs.jsonl   # one process per
    python bench/easy_to_hard.py --from-jsonl runs.jsonl --plot levels.png              # configuration, then
    python bench/easy_to_hard.py --from-keep K/schedule-seed-0                          # a stopped run's rounds

A run that stopped (a crash, a fix) continues with the same command plus --resume: the kept copy's code
is refreshed from this checkout and only the stages it has not run yet run.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import click
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from self_improve import copy_folder, copy_repository, new_copy, sh

from think_prune_train.hardware import machine_line

REPO = Path(__file__).resolve().parents[1]

def common_overrides(harder_train: int, harder_test: int, tokens: int) -> list[str]:
    """Harder questions beside the warm-up's levels, in the test set and the pool of every configuration,
    and room for their longer solutions."""
    return ["+prepare.harder.task_options={min_terms:6,max_terms:10}", f"prepare.harder.train_questions={harder_train}",
            f"prepare.harder.test_questions={harder_test}", f"generate.max_new_tokens={tokens}",
            f"evaluate.max_new_tokens={tokens}"]


def config_overrides(name: str, threshold: float) -> list[str]:
    """today: the loop as it is, every round at the warm-up's levels (a static schedule: without one a round
    would draw from the whole pool, the harder questions included); schedule: the threshold rule from 2-5
    terms with accumulated data; and schedule+majority: the same pruned without labels."""
    warmup_levels = "+curriculum.levels={r1:[2,3,4,5]}"
    schedule = [warmup_levels, "curriculum.rule=threshold", f"curriculum.threshold={threshold}", "train.data=accumulate"]
    return {"today": [warmup_levels], "schedule": schedule,
            "schedule+majority": [*schedule, "prune.filter=majority"]}[name]


CONFIGS = ("today", "schedule", "schedule+majority")


def stage_order(params: dict) -> list[str]:
    order = ["prepare", "base", "evaluate@r0", "report@r0"]
    for round_ in params["schedule"]:
        order += [f"generate@{round_}", f"prune@{round_}"]
        if round_ in params["accumulation"]:
            order.append(f"accumulate@{round_}")
        order += [f"train@{round_}", f"evaluate@{round_}", f"report@{round_}"]
    return order + ["summary"]


def run_config(seed: int, overrides: list[str], cache: Path, keep: Path | None, name: str,
               resume: bool = False) -> dict:
    """One configuration for one seed: per round, the held-out metrics by level, the levels generated at and
    the prune stats. With `resume` and a kept copy of this run in `keep`, its code is refreshed from this
    checkout and only the stages missing from its dvc.lock run (minutes are then those of the rest only)."""
    existing = keep / f"{name}-seed-{seed}" if keep is not None else None
    if resume and existing is not None and (existing / "dvc.lock").exists():
        context = contextlib.nullcontext(str(existing))
    else:
        resume, context = False, copy_folder(keep, f"{name}-seed-{seed}")
    with context as folder:
        root = Path(folder)
        if resume:
            copy_repository(root, "src", "stages")  # a fix made since the stop runs; params and lock stay
            params = yaml.safe_load((root / "params.yaml").read_text())
            done = finished_stages(root, stage_order(params))
        else:
            params, done = new_copy(root, seed, overrides, cache), set()
            (root / "overrides.txt").write_text("\n".join(overrides) + "\n")
        started = time.perf_counter()
        for stage in [stage for stage in stage_order(params) if stage not in done]:
            sh([sys.executable, "-m", "dvc", "repro", "--force", "-s", stage], root)
            click.echo(f"  {name} seed {seed}: {stage}", err=True)
        minutes = (time.perf_counter() - started) / 60
        return {**read_run(root, params["evaluated"]), "minutes": minutes, "resumed": bool(done)}


def read_run(root: Path, evaluated: list[str]) -> dict:
    """A run's results from its folder: per evaluated round, the held-out metrics by level and, after r0,
    the levels generated at and the prune stats; the warm-up's levels."""
    level = pd.read_parquet(root / "data/problems/train.parquet").set_index("question_id")["difficulty"]
    rounds = []
    for round_ in evaluated:
        evaluation = json.loads((root / "evaluations" / round_ / "metrics.json").read_text())
        row = {"round": round_, "pass@1": evaluation["pass@1"], "greedy": evaluation["greedy_accuracy"],
               "by_difficulty": evaluation.get("by_difficulty", {})}
        if round_ != "r0":
            traces = pd.read_parquet(root / "data/generated" / f"{round_}.parquet")
            row["levels"] = sorted(int(value) for value in set(level[traces["question_id"]]))
            row["prune"] = json.loads((root / "data/pruned" / f"{round_}-stats.json").read_text())
        rounds.append(row)
    mix = json.loads((root / "data/problems/mix.json").read_text())
    return {"rounds": rounds, "warmup_levels": sorted(int(value) for value in mix["splits"]["warmup"])}


def kept_run(folder: Path) -> tuple[str, int, list[str], dict]:
    """A run kept with --keep, finished or stopped: (configuration, seed, overrides, results of the rounds
    it evaluated and this copy ran, in order)."""
    if not (folder / "params.yaml").is_file() or not (folder / "dvc.lock").is_file():
        raise click.ClickException(f"{folder} is not a run kept with --keep (no params.yaml or dvc.lock): pass the "
                                   f"folder <config>-seed-<N> inside the --keep folder")
    params = yaml.safe_load((folder / "params.yaml").read_text())
    done = finished_stages(folder, stage_order(params))
    evaluated = [round_ for round_ in params["evaluated"] if f"evaluate@{round_}" in done]
    name, _, seed = folder.name.rpartition("-seed-")
    overrides = (folder / "overrides.txt").read_text().split() if (folder / "overrides.txt").exists() else []
    return name, int(seed), overrides, {**read_run(folder, evaluated), "minutes": None, "resumed": True,
                                        "stopped": len(evaluated) < len(params["evaluated"])}


def finished_stages(root: Path, order: list[str]) -> set[str]:
    """The stages of `order` this copy already ran, in order up to the first it did not: each has a dvc.lock
    entry whose outputs all exist and were written after the copy's params.yaml (the lock the copy started
    with is this checkout's, and its tracked reports are copies older than that)."""
    locked = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    composed = (root / "params.yaml").stat().st_mtime
    done = set()
    for stage in order:
        outs = [root / out["path"] for out in locked.get(stage, {}).get("outs", [])]
        if not outs or not all(out.exists() and out.stat().st_mtime > composed for out in outs):
            break
        done.add(stage)
    return done


def mean_of(values: list[float | None]) -> str:
    values = [value for value in values if value is not None]
    return f"{100 * statistics.mean(values):.1f}" if values else ""


def print_config(name: str, overrides: list[str], runs: dict[int, dict]) -> None:
    seeds = sorted(runs)
    rounds = [row["round"] for row in runs[seeds[0]]["rounds"]]
    levels = sorted({int(level) for run in runs.values() for row in run["rounds"] for level in row["by_difficulty"]})
    seen = set(runs[seeds[0]]["warmup_levels"])
    click.echo(f"\n## {name}\n\noverrides: {' '.join(overrides)}\n")
    click.echo(f"Pass@1 / greedy accuracy per level (terms; * the warm-up never saw it), %, mean over seeds "
               f"{', '.join(map(str, seeds))}:\n")
    click.echo("| round | all | " + " | ".join(f"{level}{'' if level in seen else '*'}" for level in levels) + " |")
    click.echo("|---|---|" + "---|" * len(levels))
    for index, round_ in enumerate(rounds):
        rows = [runs[seed]["rounds"][index] for seed in seeds]
        cells = [f"{mean_of([row['pass@1'] for row in rows])} / {mean_of([row['greedy'] for row in rows])}"]
        for level in levels:
            values = [row["by_difficulty"].get(str(level)) for row in rows]
            cells.append(f"{mean_of([v['pass@1'] if v else None for v in values])} / "
                         f"{mean_of([v['greedy_accuracy'] if v else None for v in values])}")
        click.echo(f"| {round_} | " + " | ".join(cells) + " |")
    click.echo("\nGreedy accuracy on 7 terms per seed and round, % (goal: 50 or more within 8 rounds):\n")
    click.echo("| seed | " + " | ".join(rounds) + " |")
    click.echo("|---|" + "---|" * len(rounds))
    for seed in seeds:
        cells = [mean_of([row["by_difficulty"].get("7", {}).get("greedy_accuracy")]) for row in runs[seed]["rounds"]]
        click.echo(f"| {seed} | " + " | ".join(cells) + " |")
    click.echo("\nGreedy accuracy on 3 to 5 terms (mean of the three levels) per seed and round, % (goal: at most "
               "2 points below r0):\n")
    click.echo("| seed | " + " | ".join(rounds) + " |")
    click.echo("|---|" + "---|" * len(rounds))
    for seed in seeds:
        cells = [mean_of([statistics.mean(row["by_difficulty"][str(level)]["greedy_accuracy"] for level in (3, 4, 5))])
                 if all(str(level) in row["by_difficulty"] for level in (3, 4, 5)) else ""
                 for row in runs[seed]["rounds"]]
        click.echo(f"| {seed} | " + " | ".join(cells) + " |")
    click.echo("\nPer round: the levels generated at (seed by seed), kept traces, gold accuracy of the traces, "
               "and without labels the pseudo-labels' precision (overall; per level):\n")
    click.echo("| round | levels | kept | traces right, % | pseudo-label precision, % | per level |")
    click.echo("|---|---|---|---|---|---|")
    for index, round_ in enumerate(rounds[1:], start=1):
        rows = [runs[seed]["rounds"][index] for seed in seeds]
        drawn = "; ".join(f"{row['levels'][0]}-{row['levels'][-1]}" if row["levels"] else "-" for row in rows)
        kept = statistics.mean(row["prune"]["kept"] for row in rows)
        precision = mean_of([row["prune"].get("pseudo_label_precision") for row in rows])
        per_level = ""
        if any("pseudo_label_precision" in row["prune"] for row in rows):
            found = sorted({int(level) for row in rows for level in row["prune"].get("by_level", {})})
            per_level = ", ".join(
                f"{level}: {mean_of([row['prune'].get('by_level', {}).get(str(level), {}).get('pseudo_label_precision') for row in rows])}"
                for level in found)
        click.echo(f"| {round_} | {drawn} | {kept:.0f} | {mean_of([row['prune']['accuracy'] for row in rows])} | "
                   f"{precision} | {per_level} |")
    minutes = [run["minutes"] for run in runs.values() if not run.get("resumed")]
    if minutes:
        click.echo(f"\nminutes per run: {statistics.mean(minutes):.1f} (min {min(minutes):.1f}, max {max(minutes):.1f})")
    if len(minutes) < len(runs):
        click.echo(f"{len(runs) - len(minutes)} run(s) resumed after a stop or read from a kept folder: their minutes "
                   f"are not counted")
    stopped = [str(seed) for seed, run in runs.items() if run.get("stopped")]
    if stopped:
        click.echo(f"seed(s) {', '.join(stopped)} stopped before the last round: the rounds shown are those evaluated")


def saved_runs(path: Path) -> dict[str, tuple[list[str], dict[int, dict]]]:
    """The runs saved one per line by --jsonl: configuration -> (overrides, seed -> run), in CONFIGS' order;
    a configuration and seed saved twice counts its later line."""
    lines = [json.loads(text) for text in path.read_text().splitlines() if text.strip()]
    return {name: ([line for line in lines if line["config"] == name][-1]["overrides"],
                   {line["seed"]: line for line in lines if line["config"] == name})
            for name in CONFIGS if any(line["config"] == name for line in lines)}


def plot_levels(results: dict[str, tuple[list[str], dict[int, dict]]], path: Path) -> None:
    """Greedy accuracy per level against round (mean over seeds), one panel per configuration; the levels
    the warm-up never saw are dashed, and the goal (50 % on 7 terms) is a grey line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, panels = plt.subplots(1, len(results), figsize=(5 * len(results), 4), dpi=100, sharey=True, squeeze=False)
    for axes, (name, (_, runs)) in zip(panels[0], results.items()):
        seeds = sorted(runs)
        rounds = [row["round"] for row in runs[seeds[0]]["rounds"]]
        seen = set(runs[seeds[0]]["warmup_levels"])
        found = sorted({int(level) for run in runs.values() for row in run["rounds"] for level in row["by_difficulty"]})
        for index, level in enumerate(found):
            means = []
            for round_index in range(len(rounds)):
                values = [runs[seed]["rounds"][round_index]["by_difficulty"].get(str(level), {}).get("greedy_accuracy")
                          for seed in seeds]
                values = [value for value in values if value is not None]
                means.append(100 * statistics.mean(values) if values else float("nan"))
            axes.plot(range(len(rounds)), means, marker="o", color=f"C{index % 10}",
                      linestyle="-" if level in seen else "--", label=f"{level}{'' if level in seen else ' (new)'}")
        axes.axhline(50, color="grey", linewidth=0.8)
        axes.set_title(f"{name} (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))})")
        axes.set_xticks(range(len(rounds)), rounds)
        axes.set_xlabel("round")
        axes.set_ylim(0, 100)
        axes.grid(alpha=0.3)
    panels[0][0].set_ylabel("greedy accuracy on held-out questions, %")
    panels[0][-1].legend(title="terms", fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})
    plt.close(figure)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--seeds", type=int, multiple=True, default=(0, 1, 2), show_default=True, help="Seeds to run (repeat).")
@click.option("--rounds", type=int, default=8, show_default=True, help="Rounds after the warm-up.")
@click.option("--configs", multiple=True, type=click.Choice(CONFIGS), default=CONFIGS, show_default=True,
              help="Configurations to run (repeat).")
@click.option("--threshold", type=float, default=0.5, show_default=True,
              help="curriculum.threshold: pass rate at the hardest level that admits the next.")
@click.option("--harder-train", type=int, default=5000, show_default=True, help="prepare.harder.train_questions.")
@click.option("--harder-test", type=int, default=250, show_default=True, help="prepare.harder.test_questions.")
@click.option("--max-new-tokens", "tokens", type=int, default=96, show_default=True,
              help="generate.max_new_tokens and evaluate.max_new_tokens (ten compact terms take about 80 characters).")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep each run's copy of the repository under this new folder (default: delete them).")
@click.option("--jsonl", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append each finished run (configuration, seed, overrides, results) to this file as one line.")
@click.option("--from-jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Run nothing: print the tables of the runs saved with --jsonl (several processes' runs together).")
@click.option("--from-keep", "kept", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Run nothing: print the tables of runs kept with --keep (a folder <config>-seed-<N>; repeat), "
                   "also of runs stopped before their last round (their evaluated rounds only).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw greedy accuracy per level against round, a panel per configuration, into this PNG.")
@click.option("--resume", is_flag=True,
              help="Continue runs kept in --keep: their code refreshed from this checkout, the stages not yet in "
                   "their dvc.lock run.")
@click.argument("overrides", nargs=-1)
def main(seeds: tuple[int, ...], rounds: int, configs: tuple[str, ...], threshold: float, harder_train: int,
         harder_test: int, tokens: int, keep: Path | None, jsonl: Path | None, from_jsonl: Path | None,
         kept: tuple[Path, ...], plot: Path | None, resume: bool, overrides: tuple[str, ...]) -> None:
    """Run today's loop, the schedule with accumulate, and the same without labels; print accuracy per level."""
    if from_jsonl is not None or kept:
        results = saved_runs(from_jsonl) if from_jsonl is not None else {}
        for folder in kept:
            name, seed, chosen, run = kept_run(folder)
            results.setdefault(name, (chosen, {}))[1][seed] = {**run, "machine": machine_line()}
        for machine in sorted({run["machine"] for _, runs in results.values() for run in runs.values()}):
            click.echo(machine)
        for name, (chosen, runs) in results.items():
            print_config(name, chosen, runs)
        if plot is not None:
            plot_levels(results, plot)
        return
    cache = REPO / ".dvc" / "cache"
    common = common_overrides(harder_train, harder_test, tokens)
    results = {}
    for name in configs:
        chosen = [*common, f"rounds={rounds}", *config_overrides(name, threshold), *overrides]
        runs = {}
        for seed in seeds:
            runs[seed] = run_config(seed, chosen, cache, keep, name, resume)
            if jsonl is not None:
                line = {"config": name, "seed": seed, "overrides": chosen, "machine": machine_line(), **runs[seed]}
                with jsonl.open("a") as file:
                    file.write(json.dumps(line) + "\n")
        results[name] = (chosen, runs)
    click.echo(machine_line())
    for name, (chosen, runs) in results.items():
        print_config(name, chosen, runs)
    if plot is not None:
        plot_levels(results, plot)


if __name__ == "__main__":
    main()
