"""How long function_from_examples sequences are for the tiny character-level model, per level.

Builds a warm-up split of 20,000 questions (`function_from_examples_splits`) and prints, per level,
its share, the distinct hidden functions it uses, the characters of question and solution, and the
tokens of one training sequence: `<s>` + question + "\\n" (the prompt) + solution + `</s>`, one
token a character, against the tiny model's 256 positions. "f(0) shown" is the share of questions
that give the constant term away. The same text goes to bench/code_task_lengths.out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from think_prune_train.tasks.code import function_from_examples_splits
from think_prune_train.hardware import machine_line

WARMUP_QUESTIONS = 20_000
MAX_POSITIONS = 256


def stats(values: list[int]) -> str:
    array = np.array(values)
    return f"{array.mean():.1f} / {np.percentile(array, 99):.0f} / {array.max()}"


def main() -> None:
    splits, mix = function_from_examples_splits(train_questions=2000, test_questions=500,
                                                 warmup_questions=WARMUP_QUESTIONS, seed=0)
    warmup = splits["warmup"]
    lines = [f"# function_from_examples: a warm-up of {len(warmup):,} questions (seed 0)", "",
             "mean / p99 / max of each length; tokens = <s> + question + newline + solution + </s>", "",
             "| level | questions | share | distinct functions | question chars | solution chars | tokens "
             "| f(0) shown |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    groups = [(str(level), frame) for level, frame in warmup.groupby("difficulty")] + [("all", warmup)]
    for label, frame in groups:
        questions, solutions = frame["question"].tolist(), frame["solution"].tolist()
        tokens = [len(question) + len(solution) + 3 for question, solution in zip(questions, solutions)]
        shows_zero = np.mean([question.startswith("f(0)=") or " f(0)=" in question for question in questions])
        lines.append(f"| {label} | {len(frame):,} | {len(frame) / len(warmup):.3f} | {frame['solution'].nunique()} | "
                     f"{stats([len(q) for q in questions])} | {stats([len(s) for s in solutions])} | {stats(tokens)} | "
                     f"{shows_zero:.2f} |")
    longest = max(len(q) + len(s) + 3 for q, s in zip(warmup["question"], warmup["solution"]))
    lines += ["", f"Longest sequence: {longest} tokens of the tiny model's {MAX_POSITIONS} positions.",
              f"Mix record: one_mix={mix['one_mix']}, mix={mix['mix']}.", "", "Examples:", ""]
    for _, row in warmup.groupby("difficulty").head(2).sort_values("difficulty").iterrows():
        lines.append(f"- level {row['difficulty']}: `{row['question']}` -> `{row['solution'].replace(chr(10), '⏎')}`")
    text = machine_line() + "\n\n" + "\n".join(lines) + "\n"
    print(text, end="")
    Path(__file__).with_suffix(".out").write_text(text)


if __name__ == "__main__":
    main()
