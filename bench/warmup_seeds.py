"""How much does the round-0 model depend on the seed? The warm-up alone, for several seeds.

For each seed: a fresh copy of the repository with params composed for `seed=<S>` (plus any
Hydra overrides), then `dvc repro evaluate@r0` (prepare, base, evaluate@r0) and the held-out
Pass@1 and greedy accuracy of models/r0. A newcomer who changes the seed should meet the same
product: the spread of r0 over seeds is what this prints.

    python bench/warmup_seeds.py                           # seeds 0-4, the default configuration
    python bench/warmup_seeds.py --seeds 3 -- base.warmup.learning_rate=0.002
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
from self_improve import REPO, new_copy, sh  # noqa: E402

from think_prune_train.hardware import machine_line  # noqa: E402


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--seeds", type=int, multiple=True, default=(0, 1, 2, 3, 4), show_default=True, help="Seeds (repeat).")
@click.argument("overrides", nargs=-1)
def main(seeds: tuple[int, ...], overrides: tuple[str, ...]) -> None:
    """Warm up and evaluate models/r0 once per seed; print Pass@1 and greedy accuracy per seed and their spread."""
    rows = []
    for seed in seeds:
        with tempfile.TemporaryDirectory(prefix=f"tpt-warmup-{seed}-") as folder:
            root = Path(folder)
            new_copy(root, seed, list(overrides), REPO / ".dvc" / "cache")
            started = time.perf_counter()
            sh([sys.executable, "-m", "dvc", "repro", "evaluate@r0"], root)
            metrics = json.loads((root / "evaluations/r0/metrics.json").read_text())
            warmup = json.loads((root / "data/train_logs/r0.json").read_text())
        rows.append({"seed": seed, "pass@1": metrics["pass@1"], "greedy": metrics["greedy_accuracy"],
                     "last_loss": warmup["last_loss"], "minutes": (time.perf_counter() - started) / 60})
        click.echo(f"  seed {seed}: Pass@1 {100 * metrics['pass@1']:.1f}, greedy {100 * metrics['greedy_accuracy']:.1f}",
                   err=True)
    click.echo(machine_line())
    click.echo(f"overrides: {' '.join(overrides) or '(default configuration)'}\n")
    click.echo("| seed | r0 Pass@1 % | r0 greedy % | last warm-up loss | minutes |\n|---|---|---|---|---|")
    for row in rows:
        click.echo(f"| {row['seed']} | {100 * row['pass@1']:.1f} | {100 * row['greedy']:.1f} | {row['last_loss']:.3f} | "
                   f"{row['minutes']:.1f} |")
    for name in ("pass@1", "greedy"):
        values = [100 * row[name] for row in rows]
        click.echo(f"\n{name}: mean {statistics.mean(values):.1f}, min {min(values):.1f}, max {max(values):.1f}, "
                   f"spread (max - min) {max(values) - min(values):.1f} points", nl=False)
    click.echo("")


if __name__ == "__main__":
    main()
