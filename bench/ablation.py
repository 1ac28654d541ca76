"""Which selection and training strategy helps? Baseline vs each strategy, several seeds, 3 rounds.

Every (seed, variant) runs in a fresh copy of the repository (tracked files only) with params
composed from conf/ plus the variant's overrides, and all copies share this repository's DVC
cache. So the stages a variant shares with the baseline of its seed (prepare, base, evaluate@r0,
and generate@r1 for a prune or train variant) are restored from the run-cache, not rerun: the
minutes column is what the variant costs on top of those. Each finished run is appended to a
JSON-lines file, so an interrupted benchmark resumes where it stopped and `--table-only`
prints the table from what has finished.

    python bench/ablation.py                          # seeds 0 1, every variant, 3 rounds
    python bench/ablation.py --seeds 0 --variants baseline,dpo -- generate.questions_per_round=1000
    python bench/ablation.py --table-only
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
from think_prune_train.hardware import machine_line

REPO = Path(__file__).resolve().parents[1]

# name -> (what it tests, Hydra overrides)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "baseline": ("SFT on the first 2 correct traces per question", []),
    "shortest": ("length: the 2 shortest correct traces", ["prune.select=shortest"]),
    "spread": ("length balance: traces across 3 length bins", ["prune.select=spread"]),
    "diverse": ("DED: the 2 most different traces (edit distance)", ["prune.select=diverse"]),
    "compress": ("drop questions solved by every sample", ["prune.compress_above=0.75"]),
    "filters": ("drop traces over 36 tokens (the longest ~10 %)", ["prune.max_tokens=36"]),
    "dpo": ("DPO on (correct, incorrect) pairs", ["train.objective=dpo"]),
    "dpo_sft": ("DPO + 1.0 x SFT on the chosen", ["train.objective=dpo_sft"]),
    "dpo_low_lr": ("DPO at a tenth of the SFT learning rate", ["train.objective=dpo", "train.learning_rate=5e-5"]),
    "sft_then_dpo_sft": ("SFT rounds 1-2, then DPO + SFT at a tenth of the rate in round 3",
                         ["+train.objective_by_round.r3=dpo_sft", "train.dpo_learning_rate=5e-5"]),
    "teacher": ("distil from a tiny teacher warmed up twice as long", ["teacher.source=tiny"]),
}


def sh(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise click.ClickException(f"{' '.join(args)} failed in {cwd}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr


def copy_repository(destination: Path) -> None:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        # Not the committed run's outputs (reports/start is an input: the empty table).
        output = name.startswith(("data/", "models/", "evaluations/")) or name.startswith("reports/r")
        if (REPO / name).is_file() and not output:
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)
    (destination / "dvc.lock").unlink(missing_ok=True)


def run_variant(seed: int, variant: str, overrides: list[str], cache: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"tpt-ablation-{seed}-{variant}-") as folder:
        root = Path(folder)
        copy_repository(root)
        sh(["git", "init", "-q"], root)
        sh([sys.executable, "-m", "dvc", "cache", "dir", str(cache)], root)
        sh([sys.executable, "-m", "stages", "params", f"seed={seed}", *overrides, *VARIANTS[variant][1]], root)
        params = yaml.safe_load((root / "params.yaml").read_text())
        started = time.perf_counter()
        output = sh([sys.executable, "-m", "dvc", "repro"], root)
        minutes = (time.perf_counter() - started) / 60
        metrics = json.loads((root / "reports" / params["final"] / "metrics.json").read_text())
        kept, examples = [], []
        for round_ in params["schedule"]:
            kept.append(json.loads((root / "data" / "pruned" / f"{round_}-stats.json").read_text())["kept"])
            examples.append(json.loads((root / "data" / "train_logs" / f"{round_}.json").read_text())["examples"])
        return {
            "seed": seed, "variant": variant, "overrides": overrides, "pass@1": metrics["pass@1"],
            "kept": kept, "trained_on": examples, "minutes": round(minutes, 2),
            "stages_run": output.count("Running stage"),
        }


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    deviation = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * mean:.1f} ± {100 * deviation:.1f}"


def table(results: list[dict]) -> str:
    seeds = sorted({row["seed"] for row in results})
    variants = [name for name in VARIANTS if any(row["variant"] == name for row in results)]
    rounds = sorted(results[0]["pass@1"], key=lambda name: int(name[1:]))
    baseline = {row["seed"]: row for row in results if row["variant"] == "baseline"}
    lines = [
        f"Pass@1 on held-out questions, % (mean ± sd over seeds {', '.join(map(str, seeds))}); "
        "gain = final round minus the baseline's final round, per seed; minutes leave out runs restored "
        "whole from the run-cache",
        "",
        "| variant | what | " + " | ".join(rounds) + " | vs baseline | kept / trained on (per round) | minutes | seeds |",
        "|---|---|" + "---|" * len(rounds) + "---|---|---|---|",
    ]
    for name in variants:
        rows = [row for row in results if row["variant"] == name]
        cells = [spread([row["pass@1"][round_] for row in rows]) for round_ in rounds]
        gains = [row["pass@1"][rounds[-1]] - baseline[row["seed"]]["pass@1"][rounds[-1]]
                 for row in rows if row["seed"] in baseline]
        gain = (f"{100 * statistics.mean(gains):+.1f}" if gains else "n/a") if name != "baseline" else "—"
        kept = " / ".join(
            f"{statistics.mean(row['kept'][i] for row in rows):.0f}:{statistics.mean(row['trained_on'][i] for row in rows):.0f}"
            for i in range(len(rows[0]["kept"]))
        )
        # A run restored whole from the run-cache (an earlier identical run) took seconds: not its cost.
        timed = [row["minutes"] for row in rows if row["minutes"] >= 1.0]
        minutes = f"{statistics.mean(timed):.1f}" if timed else "cached"
        lines.append(f"| {name} | {VARIANTS[name][0]} | " + " | ".join(cells)
                     + f" | {gain} | {kept} | {minutes} | {len(rows)} |")
    return "\n".join(lines) + "\n"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--seeds", type=int, multiple=True, default=(0, 1), show_default=True, help="Seeds to run (repeat).")
@click.option("--variants", default=",".join(VARIANTS), show_default=True, help="Comma-separated variants.")
@click.option("--results", "results_file", default="bench/ablation.jsonl", show_default=True,
              help="Finished runs, one JSON per line; runs found here are not redone.")
@click.option("--table-only", is_flag=True, help="Print the table from the results file and stop.")
@click.argument("overrides", nargs=-1)
def main(seeds: tuple[int, ...], variants: str, results_file: str, table_only: bool, overrides: tuple[str, ...]) -> None:
    """Run baseline and strategy variants for each seed; print Pass@1 per round, traces kept and minutes."""
    chosen = [name.strip() for name in variants.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(VARIANTS))
    if unknown:
        raise click.BadParameter(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    path = REPO / results_file
    results = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    if not table_only:
        cache = REPO / ".dvc" / "cache"
        for seed in seeds:  # every variant of a seed before the next seed: the stages they share get reused
            for name in chosen:
                done = any(r["seed"] == seed and r["variant"] == name and r["overrides"] == list(overrides)
                           for r in results)
                if done:
                    continue
                row = run_variant(seed, name, list(overrides), cache)
                results.append(row)
                with path.open("a") as handle:
                    handle.write(json.dumps(row, sort_keys=True) + "\n")
                click.echo(f"  seed {seed} {name:<9} Pass@1 {row['pass@1']}  {row['minutes']:.1f} min", err=True)
    wanted = [r for r in results if r["overrides"] == list(overrides) and r["variant"] in chosen]
    if not wanted:
        raise click.ClickException(f"no finished runs in {path} for these overrides")
    click.echo(machine_line())
    click.echo(f"overrides: {' '.join(overrides) or '(default configuration)'}\n")
    click.echo(table(wanted), nl=False)


if __name__ == "__main__":
    main()
