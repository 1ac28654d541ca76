"""Byte-for-byte reproducibility of the default configuration, and what the seed changes.

Runs the pipeline in fresh copies of the repository (tracked files only), each with its own
empty DVC cache so nothing can be restored, then prints every output recorded in dvc.lock with
its hash in each run: equal hashes mean identical bytes. It also compares with the committed
dvc.lock (itself the output of a from-scratch `dvc repro`), and reruns one copy with `seed=1`
(`--seed-check`) to show that the seed alone changes every dataset and checkpoint.

    python bench/reproducibility.py                      # 2 runs + a seed=1 run, default config
    python bench/reproducibility.py --runs 1             # 1 run against the committed dvc.lock
    python bench/reproducibility.py --runs 2 -- +profile=micro   # the one-minute profile
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import yaml
from think_prune_train.hardware import machine_line

REPO = Path(__file__).resolve().parents[1]


def sh(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("TPT_FAILPOINT", None)
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise click.ClickException(f"{' '.join(args)} failed in {cwd}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def outputs(lock_file: Path) -> dict[str, str]:
    lock = yaml.safe_load(lock_file.read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def fresh_run(root: Path, overrides: list[str]) -> float:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file() and name != "dvc.lock":
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    sh(["git", "init", "-q"], root)
    sh([sys.executable, "-m", "stages", "params", *overrides], root)
    started = time.perf_counter()
    sh([sys.executable, "-m", "dvc", "repro"], root)
    return time.perf_counter() - started


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--runs", default=2, show_default=True, help="Fresh runs with the same params.")
@click.option("--seed-check/--no-seed-check", default=True, show_default=True, help="Also rerun one copy with seed=1.")
@click.argument("overrides", nargs=-1)
def main(runs: int, seed_check: bool, overrides: tuple[str, ...]) -> None:
    """Run the pipeline RUNS times from scratch and compare every output's hash."""
    columns: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="tpt-repro-") as folder:
        for index in range(runs):
            root = Path(folder) / f"run{index + 1}"
            seconds = fresh_run(root, list(overrides))
            columns[f"run {index + 1}"] = outputs(root / "dvc.lock")
            click.echo(f"run {index + 1}: {seconds / 60:.1f} min", err=True)
        if not overrides and (REPO / "dvc.lock").exists():
            columns["committed"] = outputs(REPO / "dvc.lock")
        if seed_check:
            root = Path(folder) / "run1"
            started = time.perf_counter()
            sh([sys.executable, "-m", "stages", "params", *overrides, "seed=1"], root)
            sh([sys.executable, "-m", "dvc", "repro"], root)
            columns["seed=1"] = outputs(root / "dvc.lock")
            click.echo(f"seed=1: {(time.perf_counter() - started) / 60:.1f} min", err=True)
    first = columns["run 1"]
    names = [name for name in columns if name != "run 1"]
    click.echo(machine_line())
    click.echo("| output | run 1 md5 | " + " | ".join(names) + " |")
    click.echo("|---|---|" + "---|" * len(names))
    for path, digest in first.items():
        cells = ["same" if columns[name].get(path) == digest else "differs" for name in names]
        click.echo(f"| `{path}` | `{digest[:12]}` | " + " | ".join(cells) + " |")
    for name in names:
        same = sum(columns[name].get(path) == digest for path, digest in first.items())
        click.echo(f"{name}: {same}/{len(first)} outputs identical to run 1")


if __name__ == "__main__":
    main()
