"""Sandbox throughput: small passing programs per second, one worker against every core.

Runs 200 HumanEval-shaped programs (a correct completion and its `check`) through `run_many`, with
namespace isolation and without it, and prints a markdown table; the same text goes to
bench/sandbox.out.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

from think_prune_train.verify.sandbox import Limits, SandboxUnavailable, isolation_report, program_for, run_many
from think_prune_train.hardware import machine_line

PROGRAMS = 200
COMPLETION = "def add(a, b):\n    return a + b\n"
TESTS = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"


def measure(isolation: str, workers: int) -> str:
    limits = Limits(isolation=isolation)
    sources = [program_for(COMPLETION, TESTS + f"# program {index}\n", "add")
               for index in range(PROGRAMS)]
    try:
        run_many(sources[:4], limits, workers=workers)  # warm up: the first call probes the machine
    except SandboxUnavailable as unavailable:
        return f"| {isolation} | {workers} | not available: {unavailable} | | |"
    started = time.monotonic()
    outcomes = run_many(sources, limits, workers=workers)
    elapsed = time.monotonic() - started
    passed = sum(outcome.passed for outcome in outcomes)
    return f"| {isolation} | {workers} | {PROGRAMS / elapsed:.1f} | {1000 * elapsed / PROGRAMS:.1f} | {passed}/{PROGRAMS} |"


def main() -> None:
    cores = os.cpu_count() or 1
    rows = [measure(isolation, workers) for isolation in ("namespace", "none")
            for workers in sorted({1, cores})]
    lines = [machine_line(), "", f"# Sandbox throughput ({PROGRAMS} small passing programs; {platform.machine()}, "
             f"{cores} cores, Python {platform.python_version()} driving)", "",
             "| isolation | workers | programs/s | ms per program (wall) | passed |",
             "| --- | --- | --- | --- | --- |", *rows, "", "What the default (namespace) run enforces here:",
             "", *(f"- {line}" for line in isolation_report().splitlines())]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    Path(__file__).with_suffix(".out").write_text(text)


if __name__ == "__main__":
    main()
