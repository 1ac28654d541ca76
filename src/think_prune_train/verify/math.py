"""Maths answers: does a completion end on the same mathematical object as the gold answer?

Hugging Face math-verify does the reading and the comparison (`\\frac{1}{2}` = `0.5`, `[1,2)` is
not `[1,2]`, `x=3` = `3`). This module picks which part of a completion to hand it, and bounds the
time it may take.

Why worker processes: some answers cost sympy minutes or more (`10^{10^{10^{10}}}`, `(10^9)!`),
inside one C call that no Python-level timeout can interrupt. math-verify's own timeout is
`signal.alarm`, which raises off the main thread, and the pipeline grades in worker threads. So
math-verify runs with its timeout off in a pebble process pool (spawned, not forked: forking a
threaded parent can copy a held lock into the child), one request per worker at a time; pebble
kills a worker that misses the deadline and starts a fresh one in its place, and the answer counts
as not equivalent. Each worker also caps its own CPU time and address space, so it cannot outlive
an abandoned request or eat the machine's memory.
"""

from __future__ import annotations

import atexit
import importlib
import math
import multiprocessing
import os
import re
import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import TimeoutError
from dataclasses import dataclass

from pebble import ProcessExpired, ProcessPool

from think_prune_train.verify.numeric import NUMBER, format_answer, parse_number

# The commands MATH-style solutions put the final answer in; `\fbox` turns up in a few.
BOX_OPENING = re.compile(r"\\(?:boxed|fbox)\s*\{")
# What may stand between the boxes of one multi-part answer: `\boxed{1}, \boxed{2}`,
# `$\boxed{(2,2)}$ \quad \text{and} \quad $\boxed{(6,2)}$`.
BOX_SEPARATOR = re.compile(r"(?:\s|[,;.&$]|\\[()\[\],;: !]|\\q?quad|\band\b|\bor\b|\\text\{\s*(?:and|or|,)?\s*\})*")
# GSM8K's convention: the answer follows `####` on its line.
FINAL_ANSWER_LINE = re.compile(r"####[ \t]*([^\n]*\S)")
FINAL_ANSWER_PHRASE = re.compile(r"final answer is", re.IGNORECASE)
# Math mode: an unescaped `$` (`\$18` is a price, not LaTeX), `\(`, `\[`.
MATH_DELIMITER = re.compile(r"(?<!\\)\$|\\\(|\\\[")

WORKER_MEMORY_BYTES = 4 * 1024**3
# What each worker loads before its first request, so that no request's deadline pays for it.
VERIFIER_MODULE = "math_verify"
INSTALL_ADVICE = "pip install 'math-verify[antlr4_9_3]==0.9.0' (beside hydra, which pins antlr4 4.9)"


@dataclass(frozen=True)
class _Box:
    start: int  # where `\boxed` begins
    end: int  # just past its closing brace
    content: str


def _boxes(text: str) -> list[_Box]:
    """Every complete top-level `\\boxed{...}` in order; a box cut off before its closing brace is skipped.

    Escaped braces (`\\{`, `\\}`) are content, not structure: `\\boxed{\\{1,2\\}}` holds `\\{1,2\\}`.
    """
    boxes: list[_Box] = []
    for opening in BOX_OPENING.finditer(text):
        if boxes and opening.start() < boxes[-1].end:
            continue  # a box inside the previous box
        close = _closing_brace(text, opening.end())
        if close is not None:
            boxes.append(_Box(opening.start(), close + 1, text[opening.end():close].strip()))
    return boxes


def _closing_brace(text: str, start: int) -> int | None:
    """Index of the brace that closes a `{` opened just before `start`, or None if it never closes."""
    depth = 1
    index = start
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return None


def extract_boxed(text: str) -> str | None:
    """The content of the last complete `\\boxed{...}` (braces balanced), or None if there is none."""
    boxes = _boxes(text)
    return boxes[-1].content if boxes else None


def _final_boxes(text: str) -> list[_Box]:
    """The last box, and the boxes just before it that only commas, `and`, spacing separate from it."""
    boxes = _boxes(text)
    if not boxes:
        return []
    first = len(boxes) - 1
    while first > 0 and BOX_SEPARATOR.fullmatch(text[boxes[first - 1].end:boxes[first].start]):
        first -= 1
    return boxes[first:]


def _in_math_mode(answer: str) -> str:
    """`answer` as math-verify should read it: `1,000` -> `1000` (not a tuple), bare LaTeX in `$...$`."""
    stripped = answer.strip()
    if NUMBER.fullmatch(stripped.rstrip(".")):
        value = parse_number(stripped)
        if value is not None:
            return format_answer(value)
    return stripped if MATH_DELIMITER.search(stripped) else f"${stripped}$"


def gold_text(gold: str) -> str:
    """The gold answer as math-verify should read it: its final boxes if any, else the whole in math mode."""
    boxes = _final_boxes(gold)
    if boxes:
        return "$" + ", ".join(box.content for box in boxes) + "$"
    return _in_math_mode(gold)


def prediction_text(completion: str) -> str:
    """The part of a completion that states its final answer.

    Whichever comes last of: the final `\\boxed{}` (with any boxes listed just before it), the text
    after a `####`, the text after "the final answer is"; with none of these, the whole completion,
    for math-verify's own search (the last LaTeX expression or number).
    """
    candidates = []
    boxes = _final_boxes(completion)
    if boxes:
        # `$...$` rather than `\boxed{...}`: math-verify 0.9 fails to read `\boxed{20\%}`.
        candidates.append((boxes[-1].end, "$" + ", ".join(box.content for box in boxes) + "$"))
    lines = list(FINAL_ANSWER_LINE.finditer(completion))
    if lines:
        candidates.append((lines[-1].end(), _in_math_mode(lines[-1].group(1))))
    phrases = list(FINAL_ANSWER_PHRASE.finditer(completion))
    if phrases and completion[phrases[-1].end():].strip():
        candidates.append((phrases[-1].end(), completion[phrases[-1].start():]))
    return max(candidates)[1] if candidates else completion


# --- the worker process ------------------------------------------------------------------------

# Why this worker could not load the verifier (None when it did): every request then says so.
_load_error: str | None = None


def _start_worker(memory_bytes: int, module: str) -> None:
    """pebble's initializer: cap the address space and load math-verify once.

    A failure is kept for the requests to report: an initializer that raised would make pebble
    restart the worker for ever.
    """
    import logging
    import resource

    global _load_error
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        importlib.import_module(module)
    except Exception as error:  # noqa: BLE001 - the parent turns this into an actionable message
        _load_error = f"{type(error).__name__}: {error}"
    # The pool enforces the deadline; math-verify would otherwise warn that its timeout is off.
    logging.getLogger("math_verify").setLevel(logging.ERROR)


def _request(gold: str, prediction: str, timeout_s: float) -> tuple[bool, str | None]:
    """One request in a worker: (equivalent, error)."""
    if _load_error is not None:
        raise VerifierUnavailable(f"math-verify could not be loaded in a worker process ({_load_error}). Install it: "
                                  f"{INSTALL_ADVICE}")
    _limit_cpu(timeout_s)
    return _verdict(gold, prediction)


def _verdict(gold: str, prediction: str) -> tuple[bool, str | None]:
    """(equivalent, error) with math-verify's signal timeouts off; runs in a worker process."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    configs = [LatexExtractionConfig(), ExprExtractionConfig()]
    try:
        parsed_gold = parse(gold, configs, parsing_timeout=None)
        if not parsed_gold:
            return False, "gold answer could not be parsed"
        parsed_prediction = parse(prediction, configs, parsing_timeout=None)
        verdict = bool(parsed_prediction) and verify(parsed_gold, parsed_prediction, timeout_seconds=None)
        return bool(verdict), None
    except Exception as error:  # noqa: BLE001 - any failure to read or compare means "not equivalent"
        return False, f"{type(error).__name__}: {error}"[:500]


def _limit_cpu(timeout_s: float) -> None:
    """Let this request use at most its timeout (plus slack) more CPU seconds, then SIGXCPU ends us.

    The pool kills a late worker itself; this is for when the parent is gone and nobody will.
    """
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used) + math.ceil(timeout_s) + 5
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


# --- the parent side ---------------------------------------------------------------------------


class VerifierUnavailable(RuntimeError):
    """math-verify could not be loaded in a worker process."""


@dataclass
class VerifierStats:
    graded: int = 0
    timeouts: int = 0
    # Exceptions inside parse/verify, workers that died, and gold answers math-verify cannot read.
    errors: int = 0


class VerifierPool:
    """Up to `max_workers` math-verify processes (a pebble ProcessPool), shared by any number of threads.

    A request waits for a free worker (that wait is not part of its timeout), then has `timeout_s`
    for its verdict.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max(1, max_workers or os.cpu_count() or 1)
        self.stats = VerifierStats()
        self._lock = threading.Lock()
        self._pool = ProcessPool(self.max_workers, initializer=_start_worker,
                                 initargs=(WORKER_MEMORY_BYTES, VERIFIER_MODULE),
                                 context=multiprocessing.get_context("spawn"))

    def is_equivalent(self, predicted_text: str, gold: str, timeout_s: float = 5.0) -> bool:
        """True when the completion's final answer equals `gold` mathematically, within `timeout_s`."""
        return self._verdict_of(self._submit(predicted_text, gold, timeout_s))

    def grade_many(self, pairs: Iterable[tuple[str, str]], timeout_s: float = 5.0,
                   workers: int | None = None) -> list[bool]:
        """`is_equivalent` over (predicted_text, gold) pairs, at most `workers` at a time, in input order."""
        in_flight: deque = deque()
        verdicts = []
        for predicted_text, gold in pairs:
            if len(in_flight) >= (workers or self.max_workers):
                verdicts.append(self._verdict_of(in_flight.popleft()))
            in_flight.append(self._submit(predicted_text, gold, timeout_s))
        verdicts.extend(self._verdict_of(future) for future in in_flight)
        return verdicts

    def close(self) -> None:
        """Stop the workers (a request in flight is abandoned)."""
        self._pool.stop()
        self._pool.join()

    def _submit(self, predicted_text: str, gold: str, timeout_s: float):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s!r}")
        return self._pool.schedule(_request, args=(gold_text(gold), prediction_text(predicted_text), timeout_s),
                                   timeout=timeout_s)

    def _verdict_of(self, future) -> bool:
        try:
            verdict, error = future.result()
        except TimeoutError:  # pebble killed the worker and started a fresh one
            self._count(timeout=True)
            return False
        except ProcessExpired:  # the worker died mid-request: out of memory or CPU time
            self._count(error=True)
            return False
        self._count(error=error is not None)
        return verdict

    def _count(self, timeout: bool = False, error: bool = False) -> None:
        with self._lock:
            self.stats.graded += 1
            self.stats.timeouts += timeout
            self.stats.errors += error


_shared: VerifierPool | None = None
_shared_pid: int | None = None
_shared_lock = threading.Lock()


def shared_pool() -> VerifierPool:
    """The process-wide pool behind `is_equivalent` and `grade_many`, started on first use."""
    global _shared, _shared_pid
    with _shared_lock:
        # A forked child must not share its parent's workers.
        if _shared is None or _shared_pid != os.getpid():
            _shared, _shared_pid = VerifierPool(), os.getpid()
        return _shared


def shutdown() -> None:
    """Stop the shared pool's workers (also done at exit)."""
    global _shared
    with _shared_lock:
        pool, _shared = _shared, None
    if pool is not None and _shared_pid == os.getpid():
        pool.close()


atexit.register(shutdown)


def is_equivalent(predicted_text: str, gold: str, timeout_s: float = 5.0) -> bool:
    """True when the completion's final answer equals `gold` mathematically.

    The answer is the last `\\boxed{}`, else the text after the last `####`, else whatever
    math-verify finds. Anything that fails to parse, raises, or takes longer than `timeout_s`
    (from any thread) is not equivalent.
    """
    return shared_pool().is_equivalent(predicted_text, gold, timeout_s)


def grade_many(pairs: Iterable[tuple[str, str]], timeout_s: float = 5.0, workers: int | None = None) -> list[bool]:
    """`is_equivalent` over (predicted_text, gold) pairs in parallel; verdicts in input order."""
    return shared_pool().grade_many(pairs, timeout_s, workers)
