"""A new user's first run: clone, `make run`, and check that nothing tracked changed.

Clones the repository's committed HEAD into a temporary folder (no virtual environment, no DVC
cache, no outputs), runs `make run` there with a plain environment (only PATH and HOME from
here), times its two halves (installing from requirements/run.txt, then `dvc repro`), and
prints `git status --porcelain`: empty means the fresh run reproduced the committed `dvc.lock`
and `reports/` byte for byte.

    python bench/fresh_clone.py            # prints a table; exit 1 if git status is not clean
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise click.ClickException(f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--keep", is_flag=True, help="Keep the clone (its path is printed).")
def main(keep: bool) -> None:
    """Clone HEAD, `make run` from nothing, and report minutes and `git status`."""
    folder = Path(tempfile.mkdtemp(prefix="tpt-fresh-clone-"))
    clone = folder / "think-prune-train"
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    # No pip cache: every wheel is fetched again, as on a new machine.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(folder)), "LANG": "C.UTF-8", "PIP_NO_CACHE_DIR": "1"}
    install = timed(["make", "setup"], clone, env)  # the first half of `make run`
    repro = timed(["make", "run"], clone, env)      # setup is done: only `dvc repro` runs
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout
    click.echo(f"fresh clone of {head}, `make run` on {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    click.echo("| step | minutes |\n|---|---|")
    click.echo(f"| install (`make setup`: venv, torch, requirements/run.txt) | {install / 60:.1f} |")
    click.echo(f"| `dvc repro` (every stage executed) | {repro / 60:.1f} |")
    click.echo(f"| **`make run` in all** | **{(install + repro) / 60:.1f}** |\n")
    click.echo("git status --porcelain afterwards: " + ("clean (dvc.lock and reports/ reproduced byte for byte)" if not status
                                                      else "\n" + status))
    if keep:
        click.echo(f"clone kept at {clone}")
    else:
        subprocess.run(["rm", "-rf", str(folder)], check=False)
    sys.exit(1 if status else 0)


if __name__ == "__main__":
    main()
