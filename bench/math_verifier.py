"""How often `verify.math.is_equivalent` agrees with a human label, and how fast it grades.

Reads bench/math_pairs.jsonl (hand-labelled pairs: gold, predicted, equivalent, kind), grades them
with `grade_many`, and prints a markdown table: agreement overall and per kind, every false accept
and false reject, pairs per second. The same text goes to bench/math_verifier.out.

With `--upstream-tests DIR` (the tests/ folder of a huggingface/Math-Verify checkout) it adds a
second table over the labelled (gold, pred, expected) cases of Math-Verify's own regression tests,
read from their source files; only test functions that compare with the default settings (LaTeX
and plain expressions, default precision) are used. Those labels are the maintainers' expectation
of math-verify, so the table shows what our answer picking changes, not ground truth.
"""

from __future__ import annotations

import ast
import json
import os
import platform
import time
from collections import defaultdict
from pathlib import Path

import click

from think_prune_train.verify.math import VerifierPool
from think_prune_train.hardware import machine_line

PAIRS = Path(__file__).with_name("math_pairs.jsonl")
TIMEOUT_S = 5.0
UPSTREAM_FILES = ("test_all.py", "test_boxed.py", "test_numina_cases.py", "test_open_thoughts.py")


def read_pairs(path: Path) -> list[dict]:
    pairs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        missing = {"gold", "predicted", "equivalent", "kind"} - row.keys()
        if missing:
            raise click.ClickException(f"{path}:{number} lacks {', '.join(sorted(missing))}")
        pairs.append(row)
    return pairs


def _calls_with_default_settings(function: ast.FunctionDef) -> bool:
    """True when the test body calls compare_strings(gold, pred, match_types=["latex", "expr"]) and nothing else."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "compare_strings":
            keywords = {keyword.arg: keyword.value for keyword in node.keywords}
            return set(keywords) == {"match_types"} and ast.literal_eval(keywords["match_types"]) == ["latex", "expr"]
    return False


def read_upstream_cases(tests_dir: Path) -> list[dict]:
    """(gold, pred, expected) cases from Math-Verify's pytest parametrize lists, tagged by test."""
    cases = []
    for name in UPSTREAM_FILES:
        path = tests_dir / name
        if not path.exists():
            raise click.ClickException(f"{path} not found: pass the tests/ folder of a huggingface/Math-Verify checkout")
        for function in ast.parse(path.read_text()).body:
            if not isinstance(function, ast.FunctionDef) or not _calls_with_default_settings(function):
                continue
            for decorator in function.decorator_list:
                if not (isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", None) == "parametrize"):
                    continue
                argnames = ast.literal_eval(decorator.args[0]).replace(" ", "")
                if argnames != "gold,pred,expected":
                    continue
                for gold, pred, expected in ast.literal_eval(decorator.args[1]):
                    cases.append({"gold": gold, "predicted": pred, "equivalent": bool(expected),
                                  "kind": function.name.removeprefix("test_")})
    return cases


def grade(pool: VerifierPool, rows: list[dict], workers: int) -> tuple[list[bool], float]:
    started = time.monotonic()
    verdicts = pool.grade_many([(row["predicted"], row["gold"]) for row in rows], TIMEOUT_S, workers)
    return verdicts, time.monotonic() - started


def _cell(text: str, limit: int = 70) -> str:
    text = text.replace("\n", "\\n").replace("|", "\\|")
    return f"`{text if len(text) <= limit else text[:limit - 1] + '…'}`"


def report(title: str, rows: list[dict], verdicts: list[bool], elapsed: float) -> list[str]:
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for row, verdict in zip(rows, verdicts):
        by_kind[row["kind"]].append(verdict == row["equivalent"])
    agreed = sum(verdict == row["equivalent"] for row, verdict in zip(rows, verdicts))
    labelled_equivalent = sum(row["equivalent"] for row in rows)
    lines = [f"## {title}", "",
             f"{len(rows)} pairs ({labelled_equivalent} labelled equivalent); agreement "
             f"**{agreed}/{len(rows)} = {agreed / len(rows):.1%}**; {len(rows) / elapsed:.1f} pairs/s", "",
             "| kind | pairs | agree | agreement |", "| --- | --- | --- | --- |"]
    for kind, agreements in sorted(by_kind.items()):
        lines.append(f"| {kind} | {len(agreements)} | {sum(agreements)} | {sum(agreements) / len(agreements):.0%} |")
    for label, wanted, got in (("False accepts (labelled not equivalent, graded equivalent)", False, True),
                               ("False rejects (labelled equivalent, graded not equivalent)", True, False)):
        misses = [row for row, verdict in zip(rows, verdicts) if row["equivalent"] == wanted and verdict == got]
        lines += ["", f"### {label}: {len(misses)}", ""]
        if misses:
            lines += ["| kind | gold | predicted |", "| --- | --- | --- |"]
            lines += [f"| {row['kind']} | {_cell(row['gold'])} | {_cell(row['predicted'])} |" for row in misses]
    return lines + [""]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--workers", type=int, default=lambda: os.cpu_count() or 1, show_default="all cores",
              help="Worker processes grading at once.")
@click.option("--upstream-tests", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="tests/ folder of a huggingface/Math-Verify checkout, for the second table.")
@click.option("--upstream-label", default="", help="Where that checkout came from (repository@commit), for the output.")
def main(workers: int, upstream_tests: Path | None, upstream_label: str) -> None:
    pool = VerifierPool(max_workers=workers)
    try:
        pool.grade_many([("\\boxed{1}", "1")] * workers, TIMEOUT_S, workers)  # start every worker first
        rows = read_pairs(PAIRS)
        verdicts, elapsed = grade(pool, rows, workers)
        lines = [machine_line(), "", f"# math_answers.is_equivalent against labelled pairs ({platform.machine()}, {workers} workers, "
                 f"timeout {TIMEOUT_S:.0f}s, Python {platform.python_version()})", "",
                 *report(f"Hand-made pairs ({PAIRS.name})", rows, verdicts, elapsed)]
        if upstream_tests is not None:
            cases = read_upstream_cases(upstream_tests)
            verdicts, elapsed = grade(pool, cases, workers)
            source = upstream_label or str(upstream_tests)
            lines += report(f"Math-Verify's own regression cases ({source}, tests/{{{','.join(UPSTREAM_FILES)}}})",
                            cases, verdicts, elapsed)
        stats = pool.stats
        lines.append(f"Verifier counters (warm-up included): {stats.graded} graded, {stats.timeouts} timed out, "
                     f"{stats.errors} errors (exceptions, dead workers, unreadable gold).")
    finally:
        pool.close()
    text = "\n".join(lines) + "\n"
    click.echo(text, nl=False)
    Path(__file__).with_suffix(".out").write_text(text)


if __name__ == "__main__":
    main()
