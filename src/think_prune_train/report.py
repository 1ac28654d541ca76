"""The per-round results table and plot, built from the evaluate and prune outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from think_prune_train.schedule import round_index

COLUMNS = ["round", "pass@1", "pass@1_flexible", "greedy_accuracy", "kept", "coverage"]


def collect(rounds: list[str], evaluations: str | Path = "evaluations", pruned: str | Path = "data/pruned") -> pd.DataFrame:
    """One row per round with its evaluation metrics and (for trained rounds) pruning stats."""
    rows = []
    for name in rounds:
        metrics_file = Path(evaluations) / name / "metrics.json"
        if not metrics_file.exists():
            raise FileNotFoundError(f"{metrics_file} is missing: run `dvc repro` (evaluate@{name}) first.")
        row = {"round": round_index(name), **json.loads(metrics_file.read_text())}
        stats_file = Path(pruned) / f"{name}-stats.json"
        if stats_file.exists():
            stats = json.loads(stats_file.read_text())
            row.update(kept=stats["kept"], coverage=stats["coverage"], train_accuracy=stats["accuracy"])
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame) -> str:
    shown = table[[c for c in COLUMNS if c in table.columns]].copy()
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    for _, row in shown.iterrows():
        cells = []
        for column in shown.columns:
            value = row[column]
            if pd.isna(value):
                cells.append("")
            elif column == "round":
                cells.append(f"r{int(value)}")
            elif column == "kept":
                cells.append(str(int(value)))
            else:
                cells.append(f"{100 * value:.1f} %")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(table: pd.DataFrame, path: str | Path) -> None:
    """Pass@1 (strict and flexible) and greedy accuracy against round, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    for column, label in (("pass@1", "Pass@1 (strict)"), ("pass@1_flexible", "Pass@1 (flexible)"), ("greedy_accuracy", "greedy accuracy")):
        axes.plot(table["round"], 100 * table[column], marker="o", label=label)
    axes.set_xlabel("round")
    axes.set_ylabel("% of held-out questions")
    axes.set_xticks(table["round"])
    axes.set_ylim(0, 100)
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title("Think, Prune, Train: accuracy by round")
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Software": None})  # no version stamp: same plot, same bytes
    plt.close(figure)
