from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("math_verify", reason="math-verify is not installed: pip install 'math-verify[antlr4_9_3]==0.9.0'")

from think_prune_train.verify import math as math_answers  # noqa: E402
from think_prune_train.verify.math import (
    VerifierPool,
    VerifierUnavailable,
    extract_boxed,
    grade_many,
    is_equivalent,
    prediction_text,
)

# sympy would spend hours on these, inside one C call no in-process timeout can stop.
PATHOLOGICAL = [r"\boxed{10^{10^{10^{10}}}}", r"\boxed{(10^{9})!}"]
HANG_GUARD_S = 30  # only catches a hang; the deadline itself is 1 s and not asserted on


@pytest.mark.parametrize("text, content", [
    (r"so the answer is $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),
    (r"\boxed{1} first, then \boxed{\sqrt{2}}", r"\sqrt{2}"),
    (r"\boxed{\{1,2\}}", r"\{1,2\}"),
    (r"\boxed{\left\{ x \right.}", r"\left\{ x \right."),
    (r"\fbox{7}", "7"),
    (r"\boxed {x^{2}}", "x^{2}"),
    (r"\boxed{3} and then \boxed{4", "3"),  # a box cut off by the token limit is not an answer
    ("no box here", None),
])
def test_extract_boxed(text, content):
    assert extract_boxed(text) == content


@pytest.mark.parametrize("completion, answer", [
    (r"The roots are $\boxed{1}$ and $\boxed{2}$.", "$1, 2$"),
    (r"First $\boxed{1}$, then $\boxed{2}$.", "$2$"),
    (r"Try $\boxed{1}$. That fails, so the answer is $\boxed{2}$.", "$2$"),
    ("6 * 7 = 42.\n#### 42", "42"),
    ("#### 1,000", "1000"),
    ("#### $18.50.", "18.5"),
    ("We get $\\boxed{6}$ apples, then 3 more.\n#### 9", "9"),
])
def test_prediction_text_takes_the_last_stated_answer(completion, answer):
    assert prediction_text(completion) == answer


@pytest.mark.parametrize("completion, gold", [
    ("0.5", r"\frac{1}{2}"),
    (r"\boxed{2\sqrt{2}}", r"\sqrt{8}"),
    ("3/4", r"\dfrac{3}{4}"),
    (r"\boxed{[1,2)}", "[1,2)"),
    (r"\boxed{\{3, 1, 2\}}", r"\{1,2,3\}"),
    (r"\boxed{(1, -2)}", "(1,-2)"),
    (r"\boxed{x=3}", "3"),
    (r"\boxed{3}", "x=3"),
    (r"\boxed{50}", r"50\%"),
    (r"\boxed{12\text{ cm}}", "12"),
    (r"\boxed{7}", r"7\text{ apples}"),
    (r"\boxed{-\frac{3}{4}}", "-0.75"),
    (r"\boxed{\begin{pmatrix} 1 \\ 2 \end{pmatrix}}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"),
    ("There are 36 outcomes and 6 doubles, so $P = \\frac{6}{36} = \\boxed{\\frac{1}{6}}$.", r"\frac{1}{6}"),
    ("She buys 6 packs of 7, so 6 * 7 = 42.\n#### 42", "42"),
    ("Total: 1,000 + 250\n#### 1,250", "1250"),
    ("The solutions are $\\boxed{1}$ and $\\boxed{2}$.", r"\{1, 2\}"),
])
def test_equivalent(completion, gold):
    assert is_equivalent(completion, gold)


def test_gold_read_from_a_worked_solution():
    solution = r"The angle is a quarter turn, so $\theta = \boxed{\frac{\pi}{2}}$."
    assert extract_boxed(solution) == r"\frac{\pi}{2}"
    assert is_equivalent(r"\boxed{\pi/2}", solution)
    assert not is_equivalent(r"\boxed{\pi}", solution)


@pytest.mark.parametrize("completion, gold", [
    (r"\boxed{[1,2]}", "[1,2)"),
    (r"\boxed{(1,2)}", "(1,2]"),
    (r"\boxed{[2,1]}", "[1,2]"),
    (r"\boxed{\{1, 2\}}", r"\{1,2,3\}"),
    (r"\boxed{(2, 1)}", "(1,2)"),
    (r"\boxed{0.33}", r"\frac{1}{3}"),
    (r"\boxed{-3}", "3"),
    (r"\boxed{43}", "42"),
    (r"\boxed{3\sqrt{2}}", r"2\sqrt{3}"),
    (r"\boxed{x=-3}", "x=3"),
    (r"\boxed{45\%}", r"40\%"),
    ("6 * 7 = 42.\n#### 41", "42"),
    ("I could not solve it.", "8"),
    ("", "8"),
    (r"First $\boxed{5}$, but rechecking gives $\boxed{4}$.", "5"),
])
def test_not_equivalent(completion, gold):
    assert not is_equivalent(completion, gold)


@pytest.mark.parametrize("completion", PATHOLOGICAL)
def test_pathological_answer_times_out_on_the_main_thread(completion):
    assert threading.current_thread() is threading.main_thread()
    started = time.monotonic()
    assert is_equivalent(completion, "5", timeout_s=1.0) is False
    assert time.monotonic() - started < HANG_GUARD_S


@pytest.mark.parametrize("completion", PATHOLOGICAL)
def test_pathological_answer_times_out_on_a_worker_thread(completion):
    verdicts = []
    thread = threading.Thread(target=lambda: verdicts.append(is_equivalent(completion, "5", timeout_s=1.0)))
    thread.start()
    thread.join(HANG_GUARD_S)
    assert not thread.is_alive(), "is_equivalent hung in a worker thread"
    assert verdicts == [False]


def test_thread_pool_grading_survives_a_timeout():
    with ThreadPoolExecutor(4) as executor:
        futures = [executor.submit(is_equivalent, completion, gold, 1.0) for completion, gold in
                   [(PATHOLOGICAL[0], "5"), (r"\boxed{\frac{2}{4}}", "0.5"), (r"\boxed{6}", "5"), ("#### 9", "9")]]
        assert [future.result(timeout=HANG_GUARD_S) for future in futures] == [False, True, False, True]


def test_killed_worker_is_replaced_and_counted():
    pool = VerifierPool(max_workers=1)
    try:
        assert pool.is_equivalent(PATHOLOGICAL[1], "5", timeout_s=1.0) is False
        # The only worker was killed: the next request needs its replacement.
        assert pool.is_equivalent(r"\boxed{\sqrt{8}}", r"2\sqrt{2}", timeout_s=30.0) is True
        assert pool.stats.timeouts == 1
        assert pool.stats.graded == 2
    finally:
        pool.close()


def test_grade_many_keeps_input_order():
    pairs = [(r"\boxed{1}", "1"), (PATHOLOGICAL[0], "1"), (r"\boxed{2}", "1"), (r"\boxed{0.25}", r"\frac{1}{4}"),
             ("#### 7", "7"), ("#### 8", "7")]
    assert grade_many(pairs, timeout_s=1.0, workers=3) == [True, False, False, True, True, False]
    assert grade_many([], timeout_s=1.0) == []


def test_unreadable_gold_counts_as_an_error_not_a_match():
    pool = VerifierPool(max_workers=1)
    try:
        assert pool.is_equivalent(r"\boxed{}", "", timeout_s=30.0) is False
        assert pool.stats.errors == 1
    finally:
        pool.close()


def test_worker_that_cannot_start_says_what_to_install(monkeypatch):
    monkeypatch.setattr(math_answers, "VERIFIER_MODULE", "no_such_verifier_module")
    pool = VerifierPool(max_workers=1)
    with pytest.raises(VerifierUnavailable, match="pip install 'math-verify"):
        pool.is_equivalent(r"\boxed{1}", "1")
    pool.close()


def test_timeout_must_be_positive():
    with pytest.raises(ValueError, match="timeout_s"):
        is_equivalent(r"\boxed{1}", "1", timeout_s=0)
