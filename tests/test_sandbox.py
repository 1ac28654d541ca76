"""The sandbox: hostile programs never pass, never hang, never harm the test process or its files.

Programs here run through `run_program` (one program, passed when it runs to its end) and through
`judge_program` (a completion against its tests, as grading runs it); tests/test_judge.py holds the
hostile suite of completions written to forge a verdict.

Each test runs real child processes (nothing is mocked); a hostile program carries a marker so the
tests can check that none of its processes outlive the run.
"""

from __future__ import annotations

import glob
import os
import pathlib
import secrets
import shutil
import socket
import tempfile
import textwrap
import time

import pytest

from think_prune_train.verify import sandbox
from think_prune_train.verify.judge import judge_program
from think_prune_train.verify.sandbox import Limits, run_many, run_program

FAST = Limits(timeout_seconds=3, cpu_seconds=2, memory_bytes=512 << 20, max_processes=16)

HUMANEVAL_TESTS = textwrap.dedent("""
    def check(candidate):
        assert candidate(2, 3) == 5
        assert candidate(-1, 1) == 0
""")
CORRECT_ADD = "def add(a, b):\n    return a + b\n"
WRONG_ADD = "def add(a, b):\n    return a - b\n"


def namespace_available() -> bool:
    try:
        sandbox._plan("namespace", None, "nobody")
    except sandbox.SandboxUnavailable:
        return False
    return True


needs_namespace = pytest.mark.skipif(not namespace_available(),
                                     reason="user namespaces are not available here")


def processes_with(marker: str) -> list[int]:
    """PIDs whose command line contains `marker` (hostile programs put one in their source)."""
    found = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as handle:
                if marker.encode() in handle.read():
                    found.append(int(path.split("/")[2]))
        except OSError:
            continue
    return found


def sandbox_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "tpt-sandbox-*")))


def run_hostile(source: str, limits: Limits = FAST) -> sandbox.Outcome:
    """Run `source`, then check it left no directory and no process behind."""
    before = sandbox_dirs()
    outcome = run_program(source, limits)
    assert sandbox_dirs() == before, "the run left its working directory behind"
    return outcome


# --- programs that should pass or fail on their merits ---------------------------------------


def judged(completion: str, tests: str = HUMANEVAL_TESTS, entry_point: str | None = "add",
           limits: Limits = FAST) -> sandbox.Outcome:
    """Grade `completion` as the pipeline does, then check no directory and no process stayed behind."""
    before = sandbox_dirs()
    outcome = judge_program(completion, tests, entry_point, limits)
    assert sandbox_dirs() == before, "the run left its working directory behind"
    return outcome


def test_a_correct_humaneval_completion_passes():
    outcome = judged(CORRECT_ADD)
    assert outcome.status == "passed" and outcome.passed and outcome.duration > 0


def test_a_wrong_humaneval_completion_fails_and_says_which_assertion():
    outcome = judged(WRONG_ADD)
    assert outcome.status == "failed" and not outcome.passed
    assert "assertion 1 of 2" in outcome.detail


def test_mbpp_style_plain_asserts_see_the_candidates_functions():
    tests = "assert add(2, 3) == 5\nassert add(0, 0) == 0\n"
    assert judged(CORRECT_ADD, tests, None).passed
    assert not judged(WRONG_ADD, tests, None).passed


def test_a_syntax_error_fails():
    outcome = judged("def add(a, b) return a")
    assert outcome.status == "failed" and "SyntaxError" in outcome.detail


def test_an_entry_point_that_is_not_a_name_is_refused():
    with pytest.raises(ValueError, match="entry_point"):
        judge_program(CORRECT_ADD, HUMANEVAL_TESTS, "add; import os")


# --- forging the verdict ---------------------------------------------------------------------


@pytest.mark.parametrize("escape", ["import sys\nsys.exit(0)", "import os\nos._exit(0)",
                                    "raise SystemExit(0)",
                                    "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"])
@pytest.mark.parametrize("tests", [HUMANEVAL_TESTS, HUMANEVAL_TESTS.replace("    assert", "    for _ in range(1):\n        assert")],
                         ids=["split", "judge"])
def test_leaving_before_the_tests_does_not_pass(escape, tests):
    assert not judged(WRONG_ADD + escape + "\n", tests).passed
    if "kill" not in escape:  # a raw program is PID 1 of its namespace, where its own SIGKILL does nothing
        assert not run_hostile(escape + "\n").passed


def test_leaving_while_being_tested_does_not_pass():
    assert not judged("import os\ndef add(a, b):\n    os._exit(0)\n").passed


def test_a_candidate_check_changes_nothing():
    assert not judged(WRONG_ADD + "def check(candidate):\n    pass\n").passed


def test_tampering_with_builtins_does_not_reach_the_tests():
    completion = WRONG_ADD + textwrap.dedent("""
        import builtins
        class Harmless(Exception):
            pass
        builtins.AssertionError = Harmless
        builtins.abs = lambda value: 0
        builtins.isinstance = lambda *arguments: True
        abs = lambda value: 0
    """)
    tests = textwrap.dedent("""
        def check(candidate):
            assert abs(candidate(2, 3) - 5) < 1e-9
    """)
    assert not judged(completion, tests).passed
    assert not judged(completion, tests.replace("    assert", "    for _ in range(1):\n        assert")).passed


def test_a_trace_hook_cannot_swap_the_candidate():
    completion = WRONG_ADD + textwrap.dedent("""
        import sys
        def swap_candidate(frame, event, argument):
            if event == "call":
                frame.f_locals["candidate"] = lambda a, b: a + b
            return None
        sys.settrace(swap_candidate)
        sys.setprofile(swap_candidate)
    """)
    assert not judged(completion).passed


def test_printing_a_fake_verdict_does_not_pass():
    fake = sandbox.VERDICT_MARK.decode() + secrets.token_hex(16)
    completion = f"import sys, os\nprint({fake!r})\nos._exit(0)\n"
    assert not judged(completion).passed
    assert not run_hostile(completion).passed


def test_the_token_cannot_be_read_from_stdin():
    completion = "import os, sys\nprint('stdin:', sys.stdin.read())\nos._exit(0)\n"
    assert not run_hostile(completion).passed


# --- resource exhaustion -----------------------------------------------------------------------


def test_an_infinite_loop_times_out_quickly():
    marker = f"loop_{secrets.token_hex(4)}"
    outcome = run_hostile(f"# {marker}\nwhile True:\n    pass\n",
                          Limits(timeout_seconds=1, cpu_seconds=5))
    assert outcome.status == "timeout" and outcome.duration < 3
    assert processes_with(marker) == []


def test_the_cpu_limit_stops_a_loop_before_the_wall_clock():
    # One CPU second is about one wall second on an idle core, and more on a busy machine: the wall
    # limit is far enough off that only the CPU limit can have stopped the loop by half of it.
    outcome = run_hostile("while True:\n    pass\n", Limits(timeout_seconds=60, cpu_seconds=1))
    assert outcome.status == "timeout" and outcome.duration < 30


def test_a_memory_bomb_is_stopped():
    outcome = run_hostile("blocks = []\nwhile True:\n    blocks.append(bytearray(50 << 20))\n")
    assert outcome.status == "memory"


def test_a_program_printing_gigabytes_is_cut_off_fast():
    outcome = run_hostile("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
                          Limits(timeout_seconds=10, output_bytes=1 << 20))
    assert outcome.status == "output_limit" and outcome.duration < 5


def test_stderr_counts_towards_the_output_limit():
    outcome = run_hostile("import sys\nwhile True:\n    sys.stderr.write('y' * 65536)\n",
                          Limits(timeout_seconds=10, output_bytes=1 << 20))
    assert outcome.status == "output_limit"


@needs_namespace
def test_the_process_limit_holds_per_run():
    source = textwrap.dedent("""
        import os, time
        children = 0
        try:
            while children < 100:
                if os.fork() == 0:
                    time.sleep(30)
                children += 1
        except OSError:
            pass
        assert children < 8, children
    """)
    outcome = run_hostile(source, Limits(timeout_seconds=3, max_processes=8))
    assert outcome.passed, outcome.stderr_tail


@needs_namespace
def test_a_fork_bomb_times_out_and_leaves_no_process_behind():
    marker = f"forkbomb_{secrets.token_hex(4)}"
    source = textwrap.dedent(f"""
        # {marker}
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """)
    outcome = run_hostile(source, Limits(timeout_seconds=1, cpu_seconds=2, max_processes=8))
    assert outcome.status == "timeout"
    assert processes_with(marker) == []


@needs_namespace
def test_children_that_start_their_own_session_die_with_the_run():
    marker = f"orphan_{secrets.token_hex(4)}"
    source = textwrap.dedent(f"""
        # {marker}
        import os, time
        if os.fork() == 0:
            os.setsid()
            time.sleep(60)
        time.sleep(60)
    """)
    outcome = run_hostile(source, Limits(timeout_seconds=1))
    assert outcome.status == "timeout"
    time.sleep(0.2)
    assert processes_with(marker) == []


# --- reaching outside ---------------------------------------------------------------------------


@pytest.fixture
def open_dir():
    """A directory anyone may write to, so only the sandbox can stop a write into it."""
    path = tempfile.mkdtemp(prefix="tpt-sandbox-test-")
    os.chmod(path, 0o777)
    yield pathlib.Path(path)
    shutil.rmtree(path)


@needs_namespace
def test_writing_outside_the_working_directory_fails(open_dir):
    target = open_dir / "escaped.txt"
    outcome = run_hostile(f"open({str(target)!r}, 'w').write('pwned')\n")
    assert not outcome.passed and "No such file or directory" in outcome.stderr_tail  # the host's /tmp is not there
    assert not target.exists()
    # What the new root does show, the interpreter's own files, is read-only.
    library = next(path for path, is_dir in sandbox._plan("namespace", None, "nobody").binds if is_dir)
    for path in ("/usr/escaped.txt", library + "/escaped.py"):
        outcome = run_hostile(f"open({path!r}, 'w').write('pwned')\n")
        assert not outcome.passed and "Read-only file system" in outcome.stderr_tail


@needs_namespace
def test_the_parents_files_are_intact(open_dir):
    precious = open_dir / "precious.txt"
    precious.write_text("keep")
    os.chmod(precious, 0o666)
    source = f"import os\ntry:\n    os.remove({str(precious)!r})\nexcept OSError:\n    pass\n" \
             f"open({str(precious)!r}, 'w').write('gone')\n"
    assert not run_hostile(source).passed
    assert precious.read_text() == "keep"


def test_the_parents_environment_is_not_visible(monkeypatch):
    monkeypatch.setenv("TPT_SANDBOX_SECRET", "hunter2")
    source = "import os\nassert 'TPT_SANDBOX_SECRET' not in os.environ, 'leaked'\n" \
             "assert 'hunter2' not in repr(dict(os.environ))\n"
    outcome = run_program(source, FAST)
    assert outcome.passed, outcome.stderr_tail
    assert os.environ["TPT_SANDBOX_SECRET"] == "hunter2"


@needs_namespace
def test_a_server_in_the_parent_cannot_be_reached():
    # The kernel completes handshakes into the backlog without accept(): a non-blocking accept
    # afterwards shows whether anything connected.
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        source = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        outcome = run_hostile(source)
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()
    assert not outcome.passed and "unreachable" in outcome.stderr_tail


@needs_namespace
def test_killing_the_parent_is_harmless():
    source = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" \
             "os.kill(1, signal.SIGKILL)\n"
    run_hostile(source)
    assert os.getpid() > 0  # still here; and the runs below still work
    assert run_program("pass", FAST).passed


@needs_namespace
def test_the_program_holds_no_capability_to_remount_unmount_or_chroot():
    source = textwrap.dedent("""
        import ctypes, os, sys
        libc = ctypes.CDLL(None, use_errno=True)
        MS_REMOUNT, MS_BIND = 32, 4096
        results = [libc.mount(b"none", b"/", None, MS_REMOUNT | MS_BIND, None),  # read-write again
                   libc.mount(b"tmpfs", b"/usr", b"tmpfs", 0, None),
                   libc.umount2(b"/usr", 2), libc.chroot(b"/tmp"), libc.unshare(0x10000000)]
        print(results, file=sys.stderr)
        assert results == [-1] * 5, results
    """)
    outcome = run_hostile(source)
    assert outcome.passed, outcome.stderr_tail


@needs_namespace
def test_host_processes_are_invisible():
    outcome = run_hostile("import os\nassert not os.path.exists('/proc'), os.listdir('/proc')\n")
    assert outcome.passed, outcome.stderr_tail


# --- running many --------------------------------------------------------------------------------


def test_run_many_keeps_order_and_runs_in_parallel():
    sources = [f"import time\ntime.sleep(0.5)\nassert {index} % 2 == 0\n" for index in range(8)]
    started = time.monotonic()
    outcomes = run_many(sources, FAST, workers=8, progress="test")
    elapsed = time.monotonic() - started
    assert [outcome.passed for outcome in outcomes] == [index % 2 == 0 for index in range(8)]
    # Serial would take over 4 s of sleeping; sleeping does not need cores.
    assert elapsed < 3


# --- refusing to run unprotected ---------------------------------------------------------------


def test_namespace_isolation_without_unshare_refuses_with_advice(monkeypatch):
    sandbox._plan.cache_clear()
    monkeypatch.setattr(sandbox.shutil, "which", lambda *arguments, **keywords: None)
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="isolation='none'"):
            run_program("pass", Limits(isolation="namespace"))
        assert "NOT available" in sandbox.isolation_report(Limits(isolation="namespace"))
    finally:
        sandbox._plan.cache_clear()


def test_the_weaker_mode_must_be_named_and_is_reported_as_weaker():
    with pytest.raises(ValueError, match="isolation"):
        Limits(isolation="off")
    report = sandbox.isolation_report(Limits(isolation="none"))
    assert "network: NOT isolated" in report
    assert judged(CORRECT_ADD, limits=Limits(isolation="none", timeout_seconds=3)).passed
    assert not run_program("import sys\nsys.exit(0)\n", Limits(isolation="none")).passed
