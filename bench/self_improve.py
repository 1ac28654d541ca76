"""Does the default configuration self-improve? Run it for several seeds and print a table.

For each seed: a fresh copy of the repository (tracked files only), params composed from conf/
with `seed=<S>` (plus any extra Hydra overrides), then every stage executed one at a time with
`dvc repro --force -s` (never restored from a cache) so its wall time, DVC and Python start-up
included, can be measured. All copies share this repository's DVC cache, so afterwards
`dvc repro` here restores any seed's run from the run-cache.

    python bench/self_improve.py                   # seeds 0 1 2, the default configuration
    python bench/self_improve.py --seeds 0 -- rounds=2 generate.temperature=1.0
"""

from __future__ import annotations

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

REPO = Path(__file__).resolve().parents[1]


def sh(args: list[str], cwd: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise click.ClickException(f"{' '.join(args)} failed in {cwd}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def copy_repository(destination: Path) -> None:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)


def stage_order(params: dict) -> list[str]:
    order = ["prepare", "base", "evaluate@r0", "report@r0"]
    for round_ in params["schedule"]:
        order += [f"generate@{round_}", f"prune@{round_}", f"train@{round_}", f"evaluate@{round_}", f"report@{round_}"]
    return order


def run_seed(seed: int, overrides: list[str], cache: Path) -> tuple[list[dict], dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix=f"tpt-bench-{seed}-") as folder:
        root = Path(folder)
        copy_repository(root)
        sh(["git", "init", "-q"], root)
        sh([sys.executable, "-m", "dvc", "cache", "dir", str(cache)], root)
        sh([sys.executable, "-m", "stages", "params", f"seed={seed}", *overrides], root)
        params = yaml.safe_load((root / "params.yaml").read_text())
        seconds: dict[str, float] = {}
        for stage in stage_order(params):
            started = time.perf_counter()
            sh([sys.executable, "-m", "dvc", "repro", "--force", "-s", stage], root)
            seconds[stage] = time.perf_counter() - started
            click.echo(f"  seed {seed}: {stage:<12} {seconds[stage]:7.1f} s", err=True)
        final = params["final"]
        table = json.loads((root / "reports" / final / "metrics.json").read_text())
        rows = []
        for name in params["evaluated"]:
            evaluation = json.loads((root / "evaluations" / name / "metrics.json").read_text())
            rows.append({"round": name, "pass@1": table["pass@1"][name], "greedy": table["greedy"][name],
                         "pass@1_flexible": evaluation["pass@1_flexible"],
                         "greedy_flexible": evaluation["greedy_accuracy_flexible"]})
        return rows, seconds


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    deviation = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * mean:5.1f} ± {100 * deviation:4.1f}"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--seeds", type=int, multiple=True, default=(0, 1, 2), show_default=True, help="Seeds to run (repeat).")
@click.argument("overrides", nargs=-1)
def main(seeds: tuple[int, ...], overrides: tuple[str, ...]) -> None:
    """Run the pipeline once per seed and print Pass@1 per round and minutes per stage."""
    cache = REPO / ".dvc" / "cache"
    results = {seed: run_seed(seed, list(overrides), cache) for seed in seeds}
    rounds = [row["round"] for row in next(iter(results.values()))[0]]
    click.echo(f"\nPass@1 / greedy accuracy on held-out questions, % (mean ± sd over seeds {', '.join(map(str, seeds))})")
    click.echo(f"overrides: {' '.join(overrides) or '(default configuration)'}\n")
    click.echo("| round | Pass@1 | greedy | " + " | ".join(f"Pass@1 seed {s}" for s in seeds) + " |")
    click.echo("|---|---|---|" + "---|" * len(seeds))
    for index, name in enumerate(rounds):
        pass_at_1 = [results[s][0][index]["pass@1"] for s in seeds]
        greedy = [results[s][0][index]["greedy"] for s in seeds]
        click.echo(f"| {name} | {spread(pass_at_1)} | {spread(greedy)} | " + " | ".join(f"{100 * v:.1f}" for v in pass_at_1) + " |")
    gains = [results[s][0][-1]["pass@1"] - results[s][0][0]["pass@1"] for s in seeds]
    click.echo(f"\nPass@1 gain r0 -> {rounds[-1]}: {spread(gains)} points\n")
    # Flexible grading (the last number counts when there is no '#### <answer>' line): what a
    # configuration that prunes flexibly, such as model=smollm2-135m, improves first.
    click.echo("| round | Pass@1 flexible | greedy flexible |")
    click.echo("|---|---|---|")
    for index, name in enumerate(rounds):
        flexible = [results[s][0][index]["pass@1_flexible"] for s in seeds]
        greedy = [results[s][0][index]["greedy_flexible"] for s in seeds]
        click.echo(f"| {name} | {spread(flexible)} | {spread(greedy)} |")
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
