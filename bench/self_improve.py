"""Does the default configuration self-improve? Run it for several seeds and print a table.

For each seed: a fresh copy of the repository (tracked files only), params composed from conf/
with `seed=<S>` (plus any extra Hydra overrides), then every stage executed one at a time with
`dvc repro --force -s` (never restored from a cache, unless --reuse) so its wall time, DVC and Python start-up
included, can be measured. All copies share this repository's DVC cache, so afterwards
`dvc repro` here restores any seed's run from the run-cache.

    python bench/self_improve.py                   # seeds 0 1 2, the default configuration
    python bench/self_improve.py --control         # ... and the no-pruning control beside it
    python bench/self_improve.py --seeds 0 -- rounds=2 generate.temperature=1.0
    python bench/self_improve.py --seeds 0 --reuse -- train.prompt=zero_shot   # shares stages with an earlier run

The control (`prune.require_correct=false`: train on sampled traces whether right or wrong) runs
after each seed with plain `dvc repro`, so the stages it shares with that seed's run (prepare,
base, evaluate@r0, generate@r1) come back from the run-cache; only the main runs are timed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import yaml
from think_prune_train.hardware import machine_line

REPO = Path(__file__).resolve().parents[1]


def sh(args: list[str], cwd: Path) -> None:
    # The copy's own library first: the editable install points at this checkout, whose files may
    # change while a benchmark runs (and DVC hashes the copy's files, so those must be what runs).
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(cwd / "src"), str(cwd), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise click.ClickException(f"{' '.join(args)} failed in {cwd}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def copy_repository(destination: Path, *paths: str) -> None:
    """This checkout's tracked files (only those under `paths`, when given) into `destination`."""
    files = subprocess.run(["git", "ls-files", *paths], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)


def stage_order(params: dict) -> list[str]:
    order = ["prepare", "base", "evaluate@r0", "report@r0"]
    for round_ in params["schedule"]:
        order += [f"generate@{round_}", f"prune@{round_}", f"train@{round_}", f"evaluate@{round_}", f"report@{round_}"]
    return order + ["summary"]


CONTROL = "prune.require_correct=false"


def new_copy(root: Path, seed: int, overrides: list[str], cache: Path) -> dict:
    """A copy of the repository in `root` using the DVC cache `cache`, its params composed for `seed`; returns them."""
    copy_repository(root)
    sh(["git", "init", "-q"], root)
    sh([sys.executable, "-m", "dvc", "cache", "dir", str(cache)], root)
    sh([sys.executable, "-m", "stages", "params", f"seed={seed}", *overrides], root)
    return yaml.safe_load((root / "params.yaml").read_text())


def copy_folder(keep: Path | None, name: str):
    """A context giving the folder for one run's copy: keep/<name>, kept for a look at its traces
    afterwards, or a temporary folder deleted at the end when `keep` is None."""
    if keep is None:
        return tempfile.TemporaryDirectory(prefix=f"tpt-bench-{name}-")
    folder = keep / name
    folder.mkdir(parents=True)
    return contextlib.nullcontext(str(folder))


def run_seed(seed: int, overrides: list[str], cache: Path, timed: bool = True,
             keep: Path | None = None, reuse: bool = False) -> tuple[list[dict], dict[str, float]]:
    with copy_folder(keep, f"seed-{seed}{'' if timed else '-control'}") as folder:
        root = Path(folder)
        params = new_copy(root, seed, overrides, cache)
        seconds: dict[str, float] = {}
        if timed:
            for stage in stage_order(params):
                started = time.perf_counter()
                sh([sys.executable, "-m", "dvc", "repro", *([] if reuse else ["--force"]), "-s", stage], root)
                seconds[stage] = time.perf_counter() - started
                click.echo(f"  seed {seed}: {stage:<12} {seconds[stage]:7.1f} s", err=True)
        else:  # the control: what it shares with the seed's run comes back from the run-cache
            sh([sys.executable, "-m", "dvc", "repro"], root)
        final = params["final"]
        table = json.loads((root / "reports" / final / "metrics.json").read_text())
        rows = []
        for name in params["evaluated"]:
            evaluation = json.loads((root / "evaluations" / name / "metrics.json").read_text())
            rows.append({"round": name, "pass@1": table["pass@1"][name], "greedy": table["greedy"][name],
                         "pass@1_flexible": evaluation["pass@1_flexible"],
                         "greedy_flexible": evaluation["greedy_accuracy_flexible"],
                         "by_difficulty": evaluation.get("by_difficulty", {})})
        return rows, seconds


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    deviation = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * mean:5.1f} ± {100 * deviation:4.1f}"


def pass_at_1_gains(results: dict[int, list[dict]], seeds: tuple[int, ...]) -> list[float]:
    """Per seed, the last round's Pass@1 minus round 0's."""
    return [results[s][-1]["pass@1"] - results[s][0]["pass@1"] for s in seeds]


def print_accuracy(results: dict[int, list[dict]], seeds: tuple[int, ...], title: str) -> None:
    rounds = [row["round"] for row in next(iter(results.values()))]
    click.echo(f"\n{title}: Pass@1 / greedy accuracy on held-out questions, % (mean ± sd over seeds {', '.join(map(str, seeds))})\n")
    click.echo("| round | Pass@1 | greedy | " + " | ".join(f"Pass@1 seed {s}" for s in seeds) + " |")
    click.echo("|---|---|---|" + "---|" * len(seeds))
    for index, name in enumerate(rounds):
        pass_at_1 = [results[s][index]["pass@1"] for s in seeds]
        greedy = [results[s][index]["greedy"] for s in seeds]
        click.echo(f"| {name} | {spread(pass_at_1)} | {spread(greedy)} | " + " | ".join(f"{100 * v:.1f}" for v in pass_at_1) + " |")
    gains = pass_at_1_gains(results, seeds)
    greedy_gains = [results[s][-1]["greedy"] - results[s][0]["greedy"] for s in seeds]
    click.echo(f"\nPass@1 gain r0 -> {rounds[-1]}: {spread(gains)} points; greedy gain: {spread(greedy_gains)} points\n")
    levels = sorted({int(level) for s in seeds for row in results[s] for level in row["by_difficulty"]})
    if levels:
        questions = {level: results[seeds[0]][0]["by_difficulty"].get(str(level), {}).get("questions", 0) for level in levels}
        click.echo("Per difficulty level (terms or solution steps; test questions per level in brackets), "
                   "Pass@1 / greedy, % (mean over seeds):\n")
        click.echo("| round | " + " | ".join(f"{level} ({questions[level]})" for level in levels) + " |")
        click.echo("|---|" + "---|" * len(levels))
        for index, name in enumerate(rounds):
            cells = []
            for level in levels:
                values = [results[s][index]["by_difficulty"].get(str(level)) for s in seeds]
                values = [v for v in values if v]
                cells.append(f"{100 * statistics.mean(v['pass@1'] for v in values):.1f} / "
                             f"{100 * statistics.mean(v['greedy_accuracy'] for v in values):.1f}" if values else "")
            click.echo(f"| {name} | " + " | ".join(cells) + " |")
        click.echo("")
    # Flexible grading (the last number counts when there is no '#### <answer>' line): what a
    # configuration that prunes flexibly, such as model=smollm2-135m, improves first.
    click.echo("| round | Pass@1 flexible | greedy flexible |")
    click.echo("|---|---|---|")
    for index, name in enumerate(rounds):
        flexible = [results[s][index]["pass@1_flexible"] for s in seeds]
        greedy = [results[s][index]["greedy_flexible"] for s in seeds]
        click.echo(f"| {name} | {spread(flexible)} | {spread(greedy)} |")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--seeds", type=int, multiple=True, default=(0, 1, 2), show_default=True, help="Seeds to run (repeat).")
@click.option("--control/--no-control", default=False, show_default=True,
              help=f"Also run the no-pruning control ({CONTROL}) for every seed.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep each run's copy of the repository under this new folder (default: delete them).")
@click.option("--reuse/--no-reuse", default=False, show_default=True,
              help="Let the run-cache restore stages an earlier run already made (their time is then the restore's).")
@click.argument("overrides", nargs=-1)
def main(seeds: tuple[int, ...], control: bool, keep: Path | None, reuse: bool, overrides: tuple[str, ...]) -> None:
    """Run the pipeline once per seed and print Pass@1 per round (overall and per difficulty) and minutes per stage."""
    cache = REPO / ".dvc" / "cache"
    results, controls = {}, {}
    for seed in seeds:
        results[seed] = run_seed(seed, list(overrides), cache, keep=keep, reuse=reuse)
        if control:
            controls[seed] = run_seed(seed, [*overrides, CONTROL], cache, timed=False, keep=keep)
    click.echo(machine_line())
    click.echo(f"\noverrides: {' '.join(overrides) or '(default configuration)'}")
    print_accuracy({seed: rows for seed, (rows, _) in results.items()}, seeds, "Self-improvement (prune: keep correct)")
    if control:
        print_accuracy({seed: rows for seed, (rows, _) in controls.items()}, seeds, f"No-pruning control ({CONTROL})")
        pruned, control_rows = ({s: rows for s, (rows, _) in runs.items()} for runs in (results, controls))
        difference = [a - b for a, b in zip(pass_at_1_gains(pruned, seeds), pass_at_1_gains(control_rows, seeds))]
        click.echo(f"\nPass@1 gain from pruning (gain minus the control's gain): {spread(difference)} points")
    click.echo("")
    kinds: dict[str, list[float]] = {}
    for _, seconds in results.values():
        for stage, value in seconds.items():
            kinds.setdefault(stage.split("@")[0], []).append(value)
    click.echo("| stage | runs | minutes per run (mean) | minutes per pipeline (mean) |")
    click.echo("|---|---|---|---|")
    for kind, values in kinds.items():
        per_pipeline = sum(values) / len(seeds)
        click.echo(f"| {kind} | {len(values) // len(seeds)} | {statistics.mean(values) / 60:.2f} | {per_pipeline / 60:.2f} |")
    totals = [sum(seconds.values()) / 60 for _, seconds in results.values()]
    click.echo(f"| **total** | | | **{statistics.mean(totals):.1f}** (min {min(totals):.1f}, max {max(totals):.1f}) |")


if __name__ == "__main__":
    main()
