"""The judge: a candidate's code and the verdict on it never share a process, and nothing forges a pass.

Every program runs for real in the sandbox (nothing is mocked). The hostile suite (hostile_code.py)
is graded through `grade`, as prune and evaluate grade, on tests the pipeline evaluates itself and
on tests that run in the judge's process.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import pytest

from hostile_code import CORRECT, EXPECTED, SHAPES, AnswerServer, hostile_completions
from think_prune_train.params import VerifierParams
from think_prune_train.verify import plain
from think_prune_train.verify.code import code_answer
from think_prune_train.verify.grading import grade
from think_prune_train.verify.judge import judge_many, judge_program
from think_prune_train.verify.sandbox import Limits, SandboxUnavailable, _plan
from think_prune_train.verify.testplan import split_tests

REPO = Path(__file__).resolve().parents[1]
FAST = Limits(timeout_seconds=5, cpu_seconds=3, memory_bytes=512 << 20)
SPLIT_TESTS, JUDGE_TESTS = SHAPES["assert math.isclose"][0], SHAPES["check(), loop of isclose"][0]


def namespace_available() -> bool:
    try:
        _plan("namespace", None, "nobody")
    except SandboxUnavailable:
        return False
    return True


needs_namespace = pytest.mark.skipif(not namespace_available(), reason="user namespaces are not available here")


@pytest.fixture
def host(tmp_path_factory):
    """A world-readable secret file and answer servers under the host's /tmp, and the hostile suite."""
    folder = Path(tempfile.mkdtemp(prefix="tpt-judge-test-"))
    os.chmod(folder, 0o755)
    secret = folder / "answers.txt"
    secret.write_text(EXPECTED)
    os.chmod(secret, 0o644)
    server = AnswerServer(folder)
    completions = hostile_completions(str(REPO), str(secret), server.path, server.abstract)
    # The honest answer and each cheat really reach what they aim at when nothing stands in the way.
    yield completions, server
    server.close()
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


# --- the honest path -------------------------------------------------------------------------------


@pytest.mark.parametrize("tests, entry_point, judged_by", [
    (SPLIT_TESTS, None, "pipeline"),
    (JUDGE_TESTS, "f", "judge"),
])
def test_a_correct_answer_passes_and_a_wrong_one_fails(tests, entry_point, judged_by):
    right = judge_program(CORRECT, tests, entry_point, FAST)
    wrong = judge_program("def f(x):\n    return 2 * x\n", tests, entry_point, FAST)
    assert right.passed and right.judged_by == judged_by, right
    assert not wrong.passed and wrong.status == "failed" and wrong.judged_by == judged_by


def test_what_the_candidate_raises_reaches_the_tests_as_a_builtin_exception():
    tests = textwrap.dedent("""
        def check(candidate):
            try:
                candidate(-1)
            except ValueError:
                pass
            else:
                raise AssertionError("no ValueError")
            assert candidate(4) == 2
    """)
    completion = "class Negative(ValueError):\n    pass\ndef root(x):\n    if x < 0:\n        raise Negative(x)\n    return int(x ** 0.5)\n"
    assert judge_program(completion, tests, "root", FAST).passed


def test_a_candidate_that_changes_its_argument_in_place_is_seen_doing_so():
    tests = "def check(candidate):\n    items = [3, 1, 2]\n    candidate(items)\n    assert items == [1, 2, 3]\n"
    assert judge_program("def sort_in_place(a):\n    a.sort()\n", tests, "sort_in_place", FAST).passed
    assert not judge_program("def sort_in_place(a):\n    return sorted(a)\n", tests, "sort_in_place", FAST).passed


def test_tests_that_hand_the_candidate_a_callback_are_unsplittable_not_passed():
    tests = "def check(candidate):\n    assert candidate(lambda v: v + 1, 2) == 3\n"
    judged = judge_program("def apply(g, x):\n    return g(x)\n", tests, "apply", FAST)
    assert judged.status == "unsplittable" and not judged.passed


def test_a_class_the_tests_build_is_unsplittable():
    tests = "assert Stack().push(1) == 1\n"
    judged = judge_program("class Stack:\n    def push(self, x):\n        return x\n", tests, None, FAST)
    assert judged.status == "unsplittable" and judged.judged_by == "judge"


def test_common_stdlib_features_work_for_the_candidate():
    completion = textwrap.dedent("""
        import collections, decimal, fractions, functools, heapq, itertools, json, math, re, string, tempfile
        from typing import List
        def f(x: int) -> int:
            with tempfile.TemporaryFile() as scratch:  # /tmp is the writable workdir
                scratch.write(b"x")
            counts = collections.Counter(re.findall("a", "aa"))
            return int(math.fsum([2 * x, 1])) + len(json.dumps([])) - 2 + counts["a"] - 2
    """)
    assert judge_program(completion, SPLIT_TESTS, None, FAST).passed


def test_a_slow_candidate_times_out_and_a_greedy_one_runs_out_of_memory():
    slow = judge_program("def f(x):\n    while True:\n        pass\n", SPLIT_TESTS, None,
                         Limits(timeout_seconds=1, cpu_seconds=5))
    greedy = judge_program("def f(x):\n    return len(bytearray(1 << 40))\n", JUDGE_TESTS, "f", FAST)
    assert slow.status == "timeout" and greedy.status in ("memory", "failed") and not greedy.passed


def test_judge_many_keeps_order():
    programs = [(CORRECT if index % 2 else "def f(x):\n    return 0\n", SPLIT_TESTS, None) for index in range(6)]
    assert [judged.passed for judged in judge_many(programs, FAST, workers=2)] == [index % 2 == 1 for index in range(6)]


# --- the hostile suite ---------------------------------------------------------------------------------


@needs_namespace
@pytest.mark.parametrize("tests, entry_point", SHAPES.values(), ids=SHAPES.keys())
def test_no_hostile_completion_passes_through_grade(host, tests, entry_point):
    completions, server = host
    answer = code_answer(tests, entry_point, "")
    names = list(completions)
    graded = grade([CORRECT, *completions.values()], [answer] * (len(names) + 1),
                   VerifierParams(kind="code", timeout_s=5, workers=2))
    assert graded["correct"].iloc[0], "the honest answer must pass, or the suite proves nothing"
    passed = [name for name, correct in zip(names, graded["correct"].iloc[1:]) if correct]
    assert passed == [], f"graded passed: {passed}"
    assert server.connections == 0, "a sandboxed program reached a host socket"


@needs_namespace
def test_the_cheats_would_work_where_nothing_stood_in_their_way(host):
    """Each file and socket cheat finds its answers when run on the host itself, so the test above can fail."""
    completions, server = host
    for name in ("read the repository's data and a host file", "ask a host Unix socket"):
        namespace: dict = {}
        exec(compile(completions[name], name, "exec"), namespace)  # noqa: S102 - our own test program, on purpose
        assert [namespace["f"](x) for x in (2, 10, 3)] == [5, 21, 7], name
    assert server.connections >= 1


@needs_namespace
def test_the_candidate_sees_only_the_standard_library():
    completion = textwrap.dedent(f"""
        import os
        def f(x):
            seen = sorted(os.listdir("/"))
            hidden = [p for p in ("/home", "/root", "/etc", "/proc", "/work", {str(REPO)!r}, "/var", "/run")
                      if os.path.exists(p)]
            return [seen, hidden]
    """)
    judged = judge_program(completion, "assert f(0) == [['dev', 'lib', 'lib64', 'tmp', 'usr'], []]\n", None, FAST)
    assert judged.passed, judged


def test_isolation_none_never_runs_the_candidate_as_root():
    completion = "import os\ndef f(x):\n    return os.geteuid()\n"
    judged = judge_program(completion, "assert f(0) != 0\n", None, Limits(isolation="none", timeout_seconds=5))
    assert judged.passed, judged


# --- splitting the tests ---------------------------------------------------------------------------------


def test_simple_assertions_split_and_code_does_not():
    assert split_tests("assert f(2) == 5\nassert abs(f(1) - 3) < 1e-6\n", None) is not None
    assert split_tests("def check(candidate):\n    assert candidate([1, 2])[0] == 1\n", "g") is not None
    assert split_tests("for x in range(3):\n    assert f(x) == x\n", None) is None
    assert split_tests("assert f(f(2)) == 5\n", None) is None  # the inner result is the candidate's
    assert split_tests("assert f(2) ** 10 == 5\n", None) is None


def test_plain_data_round_trips_and_lies_do_not():
    value = [None, True, -3, 2 ** 100, 1.5, float("inf"), 1 + 2j, "é\ud800 x", b"\x00", (1,), {1: {2}}, frozenset({3})]
    assert plain.decode(plain.encode(value)) == value
    for fake in (type("Int", (int,), {})(3), type("Text", (str,), {})("a"), object(), [object()], {1: len}):
        with pytest.raises(plain.NotPlain):
            plain.encode(fake)
    for text in ("", "L2 I1", "I1 I2", "Ix", "Dinfinity", "Sxyz", "L999999999", "M1 L0 I1", "E1 L0", "Q", "I" + "9" * 5000):
        with pytest.raises(plain.NotPlain):
            plain.decode(text)
