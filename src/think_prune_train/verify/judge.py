"""Grade a candidate's code against its tests with the verdict out of the candidate's reach.

In a self-improvement loop the verifier is the reward: a forged "passed" is kept by prune and
taught by train. So the candidate's code and the judgement of it never share an interpreter:

- **The candidate's process** (`RUNNER`, in the sandbox of think_prune_train.verify.sandbox) runs
  the completion, then answers calls: it receives a function's name and plain arguments, calls it,
  and writes back what it returned as plain data (think_prune_train.verify.plain), or what it
  raised. It never sees a test, an expected value or a verdict, and nothing it does there (frames,
  monkeypatching `math`, objects whose `__eq__` lies, printing a fake verdict, writing fake replies)
  changes anything but its own answers. An answer that is not plain data, a subclass of `int` or an
  object of its own, fails the test that asked for it.
- **The judgement** runs where the candidate cannot reach. When the tests are simple assertions
  (think_prune_train.verify.testplan.split_tests: function_from_examples' `assert f(3)==10`, most of
  MBPP and HumanEval), the pipeline evaluates them itself on the plain values that came back: one
  sandboxed process per program. Other tests are code (loops, helpers, reference solutions), so they
  run in a second sandboxed process, the judge's (`JUDGE`), which never runs candidate code: there
  the candidate's functions are stubs that send their plain arguments through the pipeline to the
  candidate's process and return its plain answers.
- Tests that give the candidate something that is not plain data (a callback, an object) cannot be
  split this way: such a program is graded "unsplittable", which is not a pass, and counted.

The verdict is the pipeline's (split tests) or the judge's, read from the judge's own pipe; no
line the candidate prints or writes is read as a verdict.

What is left, stated plainly: tests are only as strong as they are. A candidate can still special-
case the inputs its question shows (MBPP shows one test in the question; function_from_examples
shows three values and checks five more for that reason), and tests that catch every exception or
check only a type pass what they pass. A question whose tests hand the candidate a callback is
never passed ("unsplittable"). Warm judges run the tests of several questions one after another
in one process: a test that changes a module's state (`random.seed`) changes it for the next.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from think_prune_train.verify import plain
from think_prune_train.verify.sandbox import Limits, Sandboxed, _plan, start
from think_prune_train.verify.testplan import Split, candidate_names, split_tests

PLAIN_SOURCE = Path(plain.__file__).read_text(encoding="utf-8")
# Sets of tests one judge's process judges before it is replaced by a fresh one.
JUDGE_REUSE = 64
# Calls to the candidate are all sent at once when they take fewer bytes than this (a pipe holds 64 KiB).
PIPELINE_BYTES = 32 << 10

# Shared by both programs: the pipe to the pipeline is a private copy of stdin and stdout; the
# program's own fd 0 reads /dev/null and fd 1 goes to stderr, so nothing printed reaches the pipe.
CHANNEL = r'''
import builtins as _tpt_builtins, os as _tpt_os, sys as _tpt_sys

def _tpt_channel():
    inbox, outbox = _tpt_os.dup(0), _tpt_os.dup(1)
    null = _tpt_os.open(_tpt_os.devnull, _tpt_os.O_RDONLY)
    _tpt_os.dup2(null, 0)
    _tpt_os.close(null)
    _tpt_os.dup2(2, 1)
    pending = [b""]
    read, write = _tpt_os.read, _tpt_os.write

    def receive():
        while b"\n" not in pending[0]:
            chunk = read(inbox, 1 << 16)
            if not chunk:
                return None
            pending[0] += chunk
        line, _, pending[0] = pending[0].partition(b"\n")
        return decode(line)

    def send(value):
        data = (encode(value) + "\n").encode("ascii")
        while data:
            data = data[write(outbox, data):]

    return receive, send


def _tpt_exception(error):
    """The builtin exception classes `error` is an instance of, and its message, cut."""
    names = [cls.__name__ for cls in type(error).__mro__ if getattr(_tpt_builtins, cls.__name__, None) is cls]
    try:
        message = str(error)[:300]
    except BaseException:
        message = "?"
    return names, message
'''

# The candidate's process: runs the completion, then answers calls. Trusted code up to the exec.
RUNNER = PLAIN_SOURCE + CHANNEL + r'''

def _tpt_describe(namespace, name):
    """What `name` is in the candidate's namespace, for the judge to bind it."""
    if name not in namespace:
        return ("missing",)
    value = namespace[name]
    if isinstance(value, type):
        return ("class",)
    if type(value) is type(_tpt_os):
        return ("module", str(getattr(value, "__name__", ""))[:100])
    if callable(value):
        return ("function",)
    try:
        encode(value)
    except NotPlain:
        return ("other",)
    return ("value", value)


def _tpt_run():
    receive, send = _tpt_channel()
    header = receive()
    source, names = header
    namespace = {"__name__": "__main__", "__builtins__": _tpt_builtins}
    try:
        exec(compile(source, "<completion>", "exec"), namespace)  # noqa: S102 - the candidate, sandboxed
    except BaseException as error:
        send(("load_failed",) + tuple(_tpt_exception(error)))
        return
    send(("loaded", {name: _tpt_describe(namespace, name) for name in names}))
    while True:
        request = receive()
        if request is None:
            return
        number, name, args, kwargs = request
        before = encode(args)
        try:
            if name not in namespace:
                raise NameError("name %r is not defined" % name)
            result = namespace[name](*args, **kwargs)
        except BaseException as error:
            send((number, "raise") + tuple(_tpt_exception(error)))
            continue
        try:
            after = encode(args)
            send((number, "ok", result, None if after == before else args))
        except NotPlain as error:
            send((number, "not_plain", str(error)))


_tpt_run()
'''

# The judge's process: runs the tests, never candidate code. Its stubs ask the pipeline for calls.
JUDGE = PLAIN_SOURCE + CHANNEL + r'''

class _TptCandidateFailed(BaseException):
    """A call failed in a way the tests must not catch (not an Exception: `except Exception` misses it)."""


def _tpt_judge(receive, send, header):
    tests, entry_point, described = header
    state = {"number": 0, "failure": None}

    def fail(status, detail):
        if state["failure"] is None:
            state["failure"] = (status, detail)
        raise _TptCandidateFailed(detail)

    def stub(name):
        def call(*args, **kwargs):
            if state["failure"] is not None:
                raise _TptCandidateFailed(state["failure"][1])
            state["number"] += 1
            number = state["number"]
            request = ("call", number, name, args, kwargs)
            try:
                encode(request)
            except NotPlain as error:
                fail("unsplittable", "the tests pass %s something that is not plain data: %s" % (name, error))
            send(request)
            reply = receive()
            if type(reply) is not tuple or len(reply) < 2 or reply[0] != number:
                fail("failed", "the candidate's process gave no answer to call %d" % number)
            if reply[1] == "ok" and len(reply) == 4:
                result, after = reply[2], reply[3]
                if type(after) is tuple and len(after) == len(args):
                    for old, new in zip(args, after):  # the candidate changed an argument in place
                        if type(old) is list and type(new) is list:
                            old[:] = new
                        elif type(old) in (dict, set) and type(new) is type(old):
                            old.clear()
                            old.update(new)
                return result
            if reply[1] == "raise" and len(reply) == 4 and type(reply[2]) is list:
                for class_name in reply[2]:
                    cls = getattr(_tpt_builtins, class_name, None) if type(class_name) is str else None
                    if isinstance(cls, type) and issubclass(cls, Exception):
                        raise cls(str(reply[3]))
                fail("failed", "%s raised %s" % (name, str(reply[2])[:80]))
            fail("failed", "%s returned something that is not plain data: %s" % (name, str(reply[2:])[:200]))
        call.__name__ = name
        return call

    def unsplittable(name, what):
        def call(*args, **kwargs):
            fail("unsplittable", "the tests use %s, which is %s in the candidate's code" % (name, what))
        return call

    namespace = {"__name__": "__tests__"}
    for name, description in described.items():
        kind = description[0] if type(description) is tuple and description else None
        if kind == "function":
            namespace[name] = stub(name)
        elif (kind == "module" and len(description) == 2 and type(description[1]) is str
              and description[1] in _tpt_sys.stdlib_module_names):
            namespace[name] = __import__(description[1])  # noqa: S102 - a standard module, in the judge
        elif kind == "value" and len(description) == 2:
            namespace[name] = description[1]
        elif kind == "class":
            namespace[name] = unsplittable(name, "a class")
        elif kind != "missing":
            namespace[name] = unsplittable(name, "an object that is not plain data")
    try:
        exec(compile(tests, "<tests>", "exec"), namespace)  # noqa: S102 - the data set's tests, sandboxed
        if entry_point is not None:
            namespace["check"](namespace[entry_point])
        verdict = ("passed", "")
    except BaseException as error:
        names, message = _tpt_exception(error)
        verdict = ("failed", "%s: %s" % (type(error).__name__, message[:200]))
    send(("verdict",) + (state["failure"] or verdict))


def _tpt_judge_each():
    """One set of tests after another (a warm judge), until the pipeline closes the pipe."""
    receive, send = _tpt_channel()
    while True:
        header = receive()
        if header is None:
            return
        _tpt_judge(receive, send, header)


_tpt_judge_each()
'''


@dataclass(frozen=True)
class Judged:
    """How one program was graded. `passed` is true only when status is "passed"."""

    passed: bool
    status: str  # passed, failed, timeout, memory, output_limit, error, unsplittable
    detail: str  # why, in a line: the failing assertion, the exception, the limit
    judged_by: str  # "pipeline" (split tests) or "judge" (tests that are code)
    duration: float
    stderr_tail: str = ""


@functools.lru_cache(maxsize=4096)
def _split(tests: str, entry_point: str | None) -> Split | None:
    return split_tests(tests, entry_point)


@functools.lru_cache(maxsize=4096)
def _names(tests: str, entry_point: str | None) -> tuple[str, ...]:
    try:
        names = candidate_names(ast.parse(tests))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        names = set()
    return tuple(sorted(names | ({entry_point} if entry_point else set())))


def _message(value) -> bytes:
    """`value` as one line for a sandboxed program's stdin."""
    return (plain.encode(value) + "\n").encode()


def _line(process: Sandboxed):
    """The next plain value from `process`, or None when none came or it was not plain data."""
    line = process.read_line()
    if line is None:
        return None
    try:
        return plain.decode(line)
    except plain.NotPlain:
        return None


def _ended(process: Sandboxed, default: str) -> str:
    process.finish()
    return process.ending() or default


def _with_split(source: str, split: Split, limits: Limits) -> tuple[str, str, Sandboxed]:
    runner = start(limits, RUNNER)
    try:
        header = _message((source, sorted({call.name for call in split.calls})))
        requests = [_message((number, call.name, call.args, call.kwargs)) for number, call in enumerate(split.calls)]
        # Small enough for the pipe's buffer: send every call at once, saving a round trip per call.
        pipelined = len(header) + sum(map(len, requests)) < PIPELINE_BYTES
        runner.send(header + b"".join(requests) if pipelined else header)
        loaded = _line(runner)
        if not (isinstance(loaded, tuple) and loaded and loaded[0] == "loaded"):
            why = f"the completion raised {loaded[1][0]}: {loaded[2]}" if (
                isinstance(loaded, tuple) and len(loaded) == 3 and loaded[0] == "load_failed" and loaded[1]) \
                else "the completion did not load"
            return _ended(runner, "failed"), str(why)[:300], runner
        results = []
        for number, call in enumerate(split.calls):
            if not pipelined:
                runner.send(requests[number])
            reply = _line(runner)
            if not (isinstance(reply, tuple) and len(reply) >= 3 and reply[0] == number):
                status = _ended(runner, "failed")
                return status, f"call {number + 1} ({call.name}) got no answer", runner
            results.append(("ok", reply[2]) if reply[1] == "ok" else (str(reply[1]), reply[2:]))
        passed, why = split.verdict(results)
        return ("passed" if passed else "failed"), why, runner
    finally:
        runner.finish()


class _Judges:
    """Warm judge processes: one per worker thread, each reused for up to JUDGE_REUSE sets of tests.

    Safe to reuse because a judge never runs candidate code: what reaches it from a candidate is
    plain data, decoded by its own code. Each set of tests gets a fresh namespace and its own
    deadline; a judge that ended a set without a verdict (a timeout, a candidate that died in the
    middle of a call) is discarded, never reused.
    """

    def __init__(self, limits: Limits):
        # A judge's CPU limit covers every set of tests it judges; each set still has its own wall clock.
        self.limits = dataclasses.replace(limits, cpu_seconds=limits.cpu_seconds * JUDGE_REUSE)
        self.timeout = limits.timeout_seconds
        self.local, self.lock, self.started = threading.local(), threading.Lock(), []

    def get(self) -> Sandboxed:
        judge = getattr(self.local, "judge", None)
        if judge is None or judge.returncode is not None or self.local.uses >= JUDGE_REUSE:
            if judge is not None:
                judge.finish()
            judge = start(self.limits, JUDGE)
            self.local.judge, self.local.uses = judge, 0
            with self.lock:
                self.started.append(judge)
        self.local.uses += 1
        judge.renew(time.monotonic() + self.timeout)
        return judge

    def discard(self) -> None:
        judge = getattr(self.local, "judge", None)
        if judge is not None:
            judge.finish()
            self.local.judge = None

    def close(self) -> None:
        with self.lock:
            for judge in self.started:
                judge.finish()


def _with_judge(source: str, tests: str, entry_point: str | None, limits: Limits,
                judges: _Judges) -> tuple[str, str, Sandboxed]:
    runner = start(limits, RUNNER)
    judge, verdict = None, False
    try:
        judge = judges.get()
        runner.send(_message((source, list(_names(tests, entry_point)))))
        loaded = _line(runner)
        if not (isinstance(loaded, tuple) and len(loaded) == 2 and loaded[0] == "loaded" and isinstance(loaded[1], dict)):
            return _ended(runner, "failed"), "the completion did not load", runner
        # Only the names asked about: the candidate must not bind a name the tests take from builtins.
        described = {name: loaded[1][name] for name in _names(tests, entry_point) if name in loaded[1]}
        judge.send(_message((tests, entry_point, described)))
        while True:
            message = _line(judge)
            if isinstance(message, tuple) and len(message) == 3 and message[0] == "verdict":
                verdict = True
                return str(message[1]), str(message[2])[:300], runner
            if not (isinstance(message, tuple) and len(message) == 5 and message[0] == "call"):
                return _ended(judge, "error"), "the judge stopped: " + judge.stderr_tail[-300:], runner
            _, number, name, args, kwargs = message
            runner.send(_message((number, name, args, kwargs)))
            reply = runner.read_line()
            if reply is None:
                # The candidate's process died or ran out of time: the judge learns nothing more.
                return _ended(runner, "failed"), f"the candidate's process ended during call {number}", runner
            judge.send(reply + b"\n")
    finally:
        runner.finish()
        if judge is not None and not verdict:
            judges.discard()


def judge_program(source: str, tests: str, entry_point: str | None, limits: Limits = Limits(),
                  judges: _Judges | None = None) -> Judged:
    """Grade `source` (the completion, after its prefix) against `tests`; see the module docstring.

    HumanEval style: `tests` define `check(candidate)`, called with the function `entry_point`
    names. MBPP style: `tests` are plain `assert` lines naming the functions; `entry_point` is None.
    """
    if entry_point is not None and not entry_point.isidentifier():
        raise ValueError(f"entry_point must be a Python name, not {entry_point!r}")
    started = time.monotonic()
    split = _split(tests, entry_point)
    if split is not None:
        status, detail, runner = _with_split(source, split, limits)
    else:
        own = judges is None  # a single program: its judge is started for it and closed after it
        judges = judges or _Judges(limits)
        try:
            status, detail, runner = _with_judge(source, tests, entry_point, limits, judges)
        finally:
            if own:
                judges.close()
    return Judged(passed=status == "passed", status=status, detail=detail,
                  judged_by="pipeline" if split is not None else "judge",
                  duration=time.monotonic() - started, stderr_tail=runner.stderr_tail)


def judge_many(programs: Sequence[tuple[str, str, str | None]], limits: Limits = Limits(),
               workers: int | None = os.cpu_count(), progress: str | None = None) -> list[Judged]:
    """`judge_program` for each (source, tests, entry_point), in parallel; results in order."""
    programs = list(programs)
    _plan(limits.isolation, limits.python, limits.sandbox_user)  # fail once, before any thread
    judges = _Judges(limits)
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers or 1)) as pool:
            judged = pool.map(lambda program: judge_program(*program, limits=limits, judges=judges), programs)
            if progress is not None:
                from tqdm import tqdm

                judged = tqdm(judged, total=len(programs), desc=progress, unit="program")
            return list(judged)
    finally:
        judges.close()
