"""The per-round results table and plot, built one round at a time from evaluate's metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from think_prune_train.artifacts import atomic_write
from think_prune_train.errors import MissingInput
from think_prune_train.schedule import round_index

COLUMNS = ["round", "pass@1", "pass@1_flexible", "greedy_accuracy"]
# Per difficulty level L the table has `pass@1_dL` and `greedy_dL` (strict grading).
LEVEL_COLUMN = re.compile(r"^(pass@1|greedy)_d(\d+)$")


def round_row(round_: str, metrics_file: str | Path) -> dict:
    """One table row: the round's number and its headline metrics from evaluate's metrics file."""
    metrics_file = Path(metrics_file)
    if not metrics_file.exists():
        raise MissingInput(f"{metrics_file} is missing: evaluate the model of {round_} first.")
    metrics = json.loads(metrics_file.read_text())
    row = {"round": round_index(round_), **{column: metrics[column] for column in COLUMNS[1:]}}
    for level, values in metrics.get("by_difficulty", {}).items():
        row[f"pass@1_d{level}"] = values["pass@1"]
        row[f"greedy_d{level}"] = values["greedy_accuracy"]
    return row


def levels(table: pd.DataFrame) -> list[int]:
    """The difficulty levels that have columns in `table`, in increasing order."""
    return sorted({int(match[2]) for match in map(LEVEL_COLUMN.match, table.columns) if match})


def extend(previous: pd.DataFrame, round_: str, metrics_file: str | Path) -> pd.DataFrame:
    """The previous table plus one row for `round_` from its evaluation metrics."""
    row = round_row(round_, metrics_file)
    table = pd.concat([previous[previous["round"] != row["round"]], pd.DataFrame([row])], ignore_index=True)
    table = table.astype({"round": int}).sort_values("round").reset_index(drop=True)
    by_level = [f"{kind}_d{level}" for level in levels(table) for kind in ("pass@1", "greedy")]
    return table[COLUMNS + by_level]


def summary(table: pd.DataFrame) -> dict:
    """What `dvc metrics show` and `dvc exp show` display: a few numbers per round."""
    return {
        "pass@1": {f"r{r}": v for r, v in zip(table["round"], table["pass@1"])},
        "greedy": {f"r{r}": v for r, v in zip(table["round"], table["greedy_accuracy"])},
        "gain": round(float(table["pass@1"].iloc[-1] - table["pass@1"].iloc[0]), 6),
    }


def overview(table: pd.DataFrame) -> dict:
    """`reports/metrics.json`: the same keys whatever `rounds` is, so `dvc exp show` and `dvc exp diff`
    line up experiments with different numbers of rounds. The final round's Pass@1, greedy accuracy
    and their gains over r0 come first; per round and per difficulty level (final round) below."""
    first, last = table.iloc[0], table.iloc[-1]
    return {
        "final_round": int(last["round"]),
        "pass@1": last["pass@1"],
        "greedy": last["greedy_accuracy"],
        "gain": round(float(last["pass@1"] - first["pass@1"]), 6),
        "greedy_gain": round(float(last["greedy_accuracy"] - first["greedy_accuracy"]), 6),
        "by_round": {
            f"r{int(row['round'])}": {"pass@1": row["pass@1"], "greedy": row["greedy_accuracy"]}
            for _, row in table.iterrows()
        },
        "by_difficulty": {
            f"d{level}": {"pass@1": last[f"pass@1_d{level}"], "greedy": last[f"greedy_d{level}"]}
            for level in levels(table)
        },
    }


def unseen_levels(mix: dict, found: list[int]) -> list[int]:
    """The levels among `found` that the warm-up never saw, by prepare's mix record (`data/problems/mix.json`):
    none when there was no warm-up (a pretrained base model saw no split of the task)."""
    warmup = {int(level) for level, count in mix.get("splits", {}).get("warmup", {}).items() if count}
    return [level for level in found if level not in warmup] if warmup else []


def difficulty_markdown(table: pd.DataFrame, unseen: list[int] = ()) -> str:
    """Pass@1 / greedy accuracy per round (rows) and difficulty level (columns), strict grading; levels the
    warm-up never saw (`unseen`) are marked with an asterisk."""
    found = levels(table)
    if not found:
        return ""
    lines = [
        "Pass@1 / greedy accuracy by difficulty (number of terms, or of solution steps):",
        "",
        "| round | " + " | ".join(f"{level}*" if level in unseen else str(level) for level in found) + " |",
        "|---|" + "---|" * len(found),
    ]
    for _, row in table.iterrows():
        cells = [f"{100 * row[f'pass@1_d{level}']:.1f} / {100 * row[f'greedy_d{level}']:.1f}" for level in found]
        lines.append(f"| r{int(row['round'])} | " + " | ".join(cells) + " |")
    if any(level in unseen for level in found):
        lines += ["", "\\* a level the warm-up never saw."]
    return "\n".join(lines) + "\n"


def to_markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for _, row in table.iterrows():
        cells = []
        for column in table.columns:
            value = row[column]
            if pd.isna(value):
                cells.append("")
            elif column == "round":
                cells.append(f"r{int(value)}")
            elif isinstance(value, str):
                cells.append(value)
            elif column in ("kept", "questions", "dropped", "compressed"):
                cells.append(str(int(value)))
            else:
                cells.append(f"{100 * value:.1f} %")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(table: pd.DataFrame, path: str | Path, unseen: list[int] = ()) -> None:
    """Pass@1 (strict and flexible) and greedy accuracy against round, overall and per difficulty level, as a PNG;
    levels the warm-up never saw (`unseen`) are labelled so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (overall, by_level) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    for column, label in (("pass@1", "Pass@1 (strict)"), ("pass@1_flexible", "Pass@1 (flexible)"), ("greedy_accuracy", "greedy accuracy")):
        overall.plot(table["round"], 100 * table[column], marker="o", label=label)
    overall.set_title("Think, Prune, Train: accuracy by round")
    for index, level in enumerate(levels(table)):
        color, name = f"C{index % 10}", f"{level} (new)" if level in unseen else str(level)
        by_level.plot(table["round"], 100 * table[f"pass@1_d{level}"], marker="o", color=color, label=f"{name}: Pass@1")
        by_level.plot(table["round"], 100 * table[f"greedy_d{level}"], marker="x", linestyle="--", color=color,
                      label=f"{name}: greedy")
    by_level.set_title("By difficulty (terms or solution steps)" + ("; (new): not in the warm-up" if unseen else ""))
    for axes in (overall, by_level):
        axes.set_xlabel("round")
        axes.set_ylabel("% of held-out questions")
        axes.set_xticks(table["round"])
        axes.set_ylim(0, 100)
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="small")
    figure.tight_layout()
    # No version stamp: the same plot gives the same bytes.
    atomic_write(path, lambda temporary: figure.savefig(temporary, format="png", metadata={"Software": None}))
    plt.close(figure)


DROP_COUNTS = ("dropped_too_long", "dropped_bad_format", "dropped_long_share")


def results_table(
    rounds: list[str], evaluations: str | Path, pruned: str | Path, train_logs: str | Path,
) -> pd.DataFrame:
    """Everything known about each round, for `python -m stages results`: accuracy, what pruning
    kept and dropped (and by which selection), and what training optimised. The folders hold each
    round's `<round>/metrics.json`, `<round>-stats.json` and `<round>.json`."""
    rows = []
    for name in rounds:
        row = {key: value for key, value in round_row(name, Path(evaluations) / name / "metrics.json").items()
               if not LEVEL_COLUMN.match(key)}
        stats_file = Path(pruned) / f"{name}-stats.json"
        if stats_file.exists():
            stats = json.loads(stats_file.read_text())
            row.update(kept=stats["kept"], train_accuracy=stats["accuracy"], coverage=stats["coverage"],
                       select=stats.get("select", "first"), dropped=sum(stats.get(key, 0) for key in DROP_COUNTS),
                       compressed=stats.get("questions_compressed", 0))
            if stats.get("pseudo_label_precision") is not None:  # pruned without labels (prune.filter: majority)
                row["label_precision"] = stats["pseudo_label_precision"]
        log_file = Path(train_logs) / f"{name}.json"
        if log_file.exists():
            row["objective"] = json.loads(log_file.read_text()).get("objective", "sft")
        rows.append(row)
    return pd.DataFrame(rows)
