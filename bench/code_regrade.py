"""Which of a code run's traces the grader before the judge passed and the judge does not, and why.

    python bench/code_regrade.py RUN_FOLDER [RUN_FOLDER ...]

RUN_FOLDER is a copy of the repository that ran a code task (`python bench/self_improve.py --keep
DIR -- task=function_from_examples` keeps them as DIR/seed-<S>). Every distinct (completion,
answer) of its `data/generated/*.parquet` and `evaluations/*/rows.parquet` is graded twice, strict
and flexible as prune and evaluate grade: by the grader of commit 39f5e0b (candidate and tests in
one interpreter, loaded from git) and by today's `grade`. A trace that passed before and fails now
was a cheat or an artefact of the old harness; each one is printed with its status.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from sandbox import old_grader  # noqa: E402 - the bench next door loads the grader before the judge

from think_prune_train.hardware import machine_line  # noqa: E402
from think_prune_train.params import VerifierParams  # noqa: E402
from think_prune_train.verify.code import fenced_code, parse_code_answer  # noqa: E402
from think_prune_train.verify.grading import grade  # noqa: E402


@click.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
def main(folders: tuple[Path, ...]) -> None:
    """Grade a code run's traces before and after the judge and count the verdicts that changed."""
    frames = [pd.read_parquet(path, columns=["completion", "answer"]) for folder in folders
              for path in [*sorted(p for p in (folder / "data/generated").glob("r*.parquet") if "-" not in p.name),
                           *sorted((folder / "evaluations").glob("r*/rows.parquet"))]]
    rows = pd.concat(frames).drop_duplicates(ignore_index=True)
    now = grade(rows["completion"].tolist(), rows["answer"].tolist(), VerifierParams(kind="code", workers=2),
                progress="now")
    before = old_grader()
    programs = []
    for completion, answer in zip(rows["completion"], rows["answer"]):
        tests, entry_point, prefix = parse_code_answer(answer)
        fenced = fenced_code(completion)
        programs.append(before.program_for(prefix + completion, tests, entry_point))
        programs.append(before.program_for(prefix + (fenced if fenced is not None else completion), tests, entry_point))
    outcomes = before.run_many(programs, before.Limits(timeout_seconds=5, cpu_seconds=5), workers=2, progress="before")
    strict_before = [outcome.passed for outcome in outcomes[0::2]]
    flexible_before = [outcome.passed for outcome in outcomes[1::2]]
    click.echo(machine_line())
    click.echo(f"\n{len(rows)} distinct traces (generated and evaluated) from {', '.join(map(str, folders))}\n")
    click.echo("| reading | passed before | passed now | passed before, failed now | failed before, passed now |")
    click.echo("|---|---|---|---|---|")
    for reading, was, column in (("strict", strict_before, "correct"), ("flexible", flexible_before, "correct_flexible")):
        is_now = now[column].tolist()
        lost = sum(a and not b for a, b in zip(was, is_now))
        gained = sum(b and not a for a, b in zip(was, is_now))
        click.echo(f"| {reading} | {sum(was)} | {sum(is_now)} | {lost} | {gained} |")
    changed = [(index, status) for index, (was, status, is_now) in
               enumerate(zip(strict_before, now["predicted"], now["correct"])) if was != is_now]
    click.echo(f"\nStatus now of the traces whose strict verdict changed: {dict(Counter(s for _, s in changed)) or 'none'}")
    for index, status in changed[:20]:
        click.echo(f"\n--- {status}:\n{rows['completion'][index][:400]}")


if __name__ == "__main__":
    main()
