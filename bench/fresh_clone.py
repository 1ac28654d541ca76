"""A new user's first run: clone, `make run`, and check that nothing tracked changed.

Clones the repository's committed HEAD into a temporary folder (no virtual environment, no DVC
cache, no outputs), runs `make run` there with a plain environment (only PATH and HOME from
here), times its two halves (installing from requirements/run.txt, then `dvc repro`), and
prints `git status --porcelain`: empty means the fresh run reproduced the committed `dvc.lock`
and `reports/` byte for byte. Each stage's minutes are read off `dvc repro`'s output as it runs.

    python bench/fresh_clone.py                      # prints a table; exit 1 if git status is not clean
    python bench/fresh_clone.py --cpu-capability avx2

`--cpu-capability avx2` holds PyTorch, oneDNN and MKL to AVX2 kernels (ATEN_CPU_CAPABILITY,
ONEDNN_MAX_CPU_ISA, MKL_ENABLE_INSTRUCTIONS): on a CPU with AVX-512 or AMX it runs the
computation as a plain AVX2 CPU would, bf16 fallback included, though at this CPU's clock and
caches. Other kernels round differently, so expect other checkpoint bytes there: the git status
it prints is then the comparison of two CPUs' hashes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from think_prune_train.hardware import machine_line

REPO = Path(__file__).resolve().parents[1]


# Environment variables that keep PyTorch (ATen), oneDNN and MKL on AVX2 kernels.
AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def timed(args: list[str], cwd: Path, env: dict[str, str], stages: dict[str, float] | None = None) -> float:
    """Run `args`; its wall seconds. With `stages`, record each DVC stage's seconds from its 'Running stage' line."""
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, current, since = [], None, started
    for line in process.stdout:
        output.append(line)
        match = re.search(r"Running stage '([^']+)'", line)
        if match and stages is not None:
            now = time.perf_counter()
            if current:
                stages[current] = now - since
            current, since = match.group(1), now
    process.wait()
    if current and stages is not None:
        stages[current] = time.perf_counter() - since
    if process.returncode != 0:
        raise click.ClickException(f"{' '.join(args)} failed:\n{''.join(output)[-3000:]}")
    return time.perf_counter() - started


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--keep", is_flag=True, help="Keep the clone (its path is printed on stderr).")
@click.option("--cpu-capability", type=click.Choice(["native", "avx2"]), default="native", show_default=True,
              help="avx2: run every kernel as a plain AVX2 CPU would (see above).")
def main(keep: bool, cpu_capability: str) -> None:
    """Clone HEAD, `make run` from nothing, and report minutes and `git status`."""
    folder = Path(tempfile.mkdtemp(prefix="tpt-fresh-clone-"))
    clone = folder / "think-prune-train"
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    # No pip cache: every wheel is fetched again, as on a new machine.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(folder)), "LANG": "C.UTF-8", "PIP_NO_CACHE_DIR": "1"}
    if cpu_capability == "avx2":
        env.update(AVX2_ONLY)
        os.environ.update(AVX2_ONLY)  # so that the machine line below reports the capability the run had
    stages: dict[str, float] = {}
    install = timed(["make", "setup"], clone, env)  # the first half of `make run`
    repro = timed(["make", "run"], clone, env, stages)  # setup is done: only `dvc repro` runs
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout
    click.echo(machine_line() + (" (held to AVX2 kernels: " + " ".join(f"{k}={v}" for k, v in AVX2_ONLY.items()) + ")"
                                 if cpu_capability == "avx2" else ""))
    click.echo(f"fresh clone of {head}, `make run`, Python {sys.version.split()[0]}\n")
    click.echo("| step | minutes |\n|---|---|")
    click.echo(f"| install (`make setup`: venv, torch, requirements/run.txt) | {install / 60:.1f} |")
    click.echo(f"| `dvc repro` (every stage executed) | {repro / 60:.1f} |")
    click.echo(f"| **`make run` in all** | **{(install + repro) / 60:.1f}** |\n")
    kinds: dict[str, list[float]] = {}
    for stage, seconds in stages.items():
        kinds.setdefault(stage.split("@")[0], []).append(seconds)
    click.echo("| stage | runs | seconds per run (mean) | seconds in all |\n|---|---|---|---|")
    for kind, values in kinds.items():
        click.echo(f"| {kind} | {len(values)} | {sum(values) / len(values):.1f} | {sum(values):.1f} |")
    click.echo("\ngit status --porcelain afterwards: " + ("clean (dvc.lock and reports/ reproduced byte for byte)"
                                                        if not status else "\n" + status))
    if keep:
        click.echo(f"clone kept at {clone}", err=True)
    else:
        subprocess.run(["rm", "-rf", str(folder)], check=False)
    sys.exit(1 if status else 0)


if __name__ == "__main__":
    main()
