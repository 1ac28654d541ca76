"""Run model-written Python programs against their tests, away from the pipeline's own process.

A program (candidate code plus its tests, see `program_for`) runs in a child process tree that the
pipeline can always kill, cannot reach the network, cannot change files outside its own scratch
directory and cannot fake its verdict by the usual tricks. Standard library only.

How a run is isolated (`isolation="namespace"`, the default):

- `unshare --user --map-root-user --net --mount --pid --fork --kill-child` puts the program in new
  user, network, mount and PID namespaces. The network namespace has only a loopback that is down:
  every connect, to 127.0.0.1 included, fails. In the PID namespace the program cannot see or signal
  the pipeline (`os.getppid()` is 0 there), and when the program (PID 1 there) exits or is killed,
  the kernel kills everything it forked, `setsid()` or not.
- A small launcher, trusted code that runs inside the namespaces before the program, makes every
  mount read-only (`mount_setattr(AT_RECURSIVE)`), mounts a size-capped tmpfs as the working
  directory (the only writable place, and it never touches the host's disk), and hides `/proc` under
  an empty read-only tmpfs (no host processes, no `/proc/self/mem`). It then sets the rlimits
  (CPU seconds, address space, file size, processes, no core dumps), sets no_new_privs, drops every
  capability from the bounding set and execs the interpreter, so the program holds no capability
  and cannot remount anything writable; mounts copied into any namespace it creates are locked.
- RLIMIT_NPROC: the kernel counts processes per user *per user namespace*, so the cap is per run,
  not shared by parallel runs. It ignores the limit for real root, though: when the pipeline runs
  as root, the run first drops to an unprivileged user (`Limits.sandbox_user`, nobody) and the
  interpreter must be one that user can execute (`sys.executable` if it can, else the system
  `python3`; see `isolation_report`).
- The parent kills the whole process group at the wall-clock timeout, reads at most
  `Limits.output_bytes` of stdout plus stderr (killing the run when it prints more), gives the
  program a minimal environment (no secrets of the pipeline's environment) and runs the interpreter
  with `-I -S -B` (no user site, no site-packages, no environment variables, no bytecode files).

`isolation="none"` keeps only the rlimits, the process-group kill, the output cap, the empty
working directory and the scrubbed environment: no network, file system or PID isolation, and a
child that calls `setsid()` escapes the kill. It must be asked for by name; `run_program` refuses to
fall back to it silently.

How a verdict is made: `passed` needs exit status 0 *and* stdout ending in a line carrying a random
token that the parent draws for this run. The token reaches the program on stdin, which the wrapper
(code that runs before the program) reads and then replaces with /dev/null; the token is in no file,
argument or environment variable. The wrapper then runs the program with `exec` and writes the token
line only when `exec` returns normally, through `os.write` and `os._exit` it bound before any program
code ran. So `sys.exit(0)`, `os._exit(0)`, `raise SystemExit`, killing itself, printing a fake
verdict or reading stdin do not pass. `program_for` adds a second boundary between candidate and
tests: the candidate runs in its own namespace; the tests run after it with a copy of the builtins
taken before it ran (so rebinding `builtins.abs`, `AssertionError` and the like changes nothing for
the tests), with trace and profile hooks cleared, and with their own `check` (a candidate's `check`
is replaced). `assert` raises the interpreter's own AssertionError whatever `builtins` says.

What this does not stop, stated plainly: Python has no isolation inside one process (PEP 578 says
audit hooks are not a sandbox). The wrapper's audit hook refuses the easy ways into the
interpreter's memory (ctypes, gc object walks, `sys._current_frames`), but code written to attack
the harness can still walk frames (`f_back`) to the wrapper's token, or patch a shared module such
as `math` that the tests import. Such a program is still confined by the process sandbox above. A
candidate returning an object whose `__eq__` is always true passes `assert f(x) == y`; that is a
weakness of the tests, not something a sandbox can see.
"""

from __future__ import annotations

import functools
import os
import pwd
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from think_prune_train.params import ISOLATIONS

VERDICT_MARK = b"think-prune-train sandbox verdict "
# The launcher exits with this when it could not build the sandbox; the run is then an "error".
SETUP_FAILED_EXIT = 125
STDERR_TAIL_CHARS = 2000


class SandboxUnavailable(RuntimeError):
    """The requested isolation cannot be built on this machine; the message says what to do."""


@dataclass(frozen=True)
class Limits:
    """What one program may use. Every limit applies to each run separately."""

    # Wall-clock seconds before the whole run is killed (status "timeout").
    timeout_seconds: float = 10.0
    # CPU seconds (RLIMIT_CPU) of each process; the kernel kills it one second later.
    cpu_seconds: int = 10
    # Address space of each process (RLIMIT_AS); past it Python raises MemoryError.
    memory_bytes: int = 1 << 30
    # Largest file the program may write (RLIMIT_FSIZE).
    file_size_bytes: int = 16 << 20
    # Size of the tmpfs working directory (namespace isolation only).
    workdir_bytes: int = 64 << 20
    # Processes and threads the run may hold at once (RLIMIT_NPROC, per user namespace).
    max_processes: int = 32
    # Bytes of stdout plus stderr kept; printing more kills the run (status "output_limit").
    output_bytes: int = 1 << 20
    # "namespace" (see the module docstring) or "none": rlimits only, for machines without
    # user namespaces. "none" must be chosen by name; nothing falls back to it silently.
    isolation: str = "namespace"
    # Interpreter for the programs; None picks one (see `isolation_report`).
    python: str | None = None
    # Unprivileged user a run drops to when the pipeline runs as root (root ignores RLIMIT_NPROC).
    sandbox_user: str = "nobody"

    def __post_init__(self) -> None:
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"Limits.isolation must be one of {ISOLATIONS}, not {self.isolation!r}")
        for name in ("timeout_seconds", "cpu_seconds", "memory_bytes", "file_size_bytes",
                     "workdir_bytes", "max_processes", "output_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive, not {getattr(self, name)!r}")


@dataclass(frozen=True)
class Outcome:
    """How one program ended. `passed` is true only when status is "passed"."""

    passed: bool
    status: str
    duration: float
    stderr_tail: str
    exit_code: int | None = None


# Runs inside the namespaces, as their root, before any program code: trusted setup, then exec.
# argv: workdir, interpreter, then the limits as integers.
LAUNCHER = r'''
import ctypes, os, resource, sys

def fail(what):
    err = ctypes.get_errno()
    sys.stderr.write("think-prune-train sandbox: %s failed: %s\n" % (what, os.strerror(err)))
    sys.exit(125)

workdir, python = sys.argv[1], sys.argv[2]
cpu, memory, file_size, workdir_bytes, processes = (int(v) for v in sys.argv[3:8])
with open(os.path.join(workdir, "program.py"), "rb") as handle:
    program = handle.read()

libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8

class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1
attr = MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
if libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, ctypes.byref(attr),
                ctypes.sizeof(attr)) != 0:
    fail("making the file system read-only (mount_setattr, Linux 5.12+)")
if libc.mount(b"tmpfs", workdir.encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
              b"size=%d,mode=0700" % workdir_bytes) != 0:
    fail("mounting the tmpfs working directory")
if libc.mount(b"tmpfs", b"/proc", b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              b"size=4k") != 0:
    fail("hiding /proc")
os.chdir(workdir)
with open("program.py", "wb") as handle:
    handle.write(program)

# The kernel sends SIGXCPU at the soft limit, which PID 1 ignores; SIGKILL at the hard one cannot be.
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
    fail("setting no_new_privs")
# Root keeps through exec only the capabilities in its bounding set: empty it.
for capability in range(64):
    if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
        break
os.execve(python, [python, "-I", "-S", "-B", "program.py"], dict(os.environ))
'''

# Runs as the program's first lines: takes the token, then runs the program; see the docstring.
WRAPPER = r'''
def _think_prune_train_run(source):
    import os, sys
    token = os.read(0, 256).strip()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    write, exit_now, run, build = os.write, os._exit, exec, compile  # noqa: S102 - runs the program, sandboxed
    refused = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents",
                         "sys._current_frames", "ctypes.dlopen", "ctypes.dlsym",
                         "ctypes.cdata", "ctypes.string_at", "ctypes.wstring_at"})

    def refuse_introspection(event, arguments):
        if event in refused or (event == "import" and arguments
                                and type(arguments[0]) is str
                                and arguments[0] in ("ctypes", "_ctypes")):
            raise RuntimeError("think-prune-train sandbox: " + event + " is not allowed")

    sys.addaudithook(refuse_introspection)
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    run(build(source, "<program>", "exec"), namespace)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    write(1, b"\n" + %(mark)r + token + b"\n")
    exit_now(0)


_think_prune_train_run(%(source)r)
'''

# The program `program_for` writes: candidate, then a boundary, then the tests.
PROGRAM = r'''
import builtins as _tpt_builtins, sys as _tpt_sys
_tpt_run, _tpt_build, _tpt_dict = exec, compile, dict  # noqa: S102 - runs candidate and tests, sandboxed
_tpt_settrace, _tpt_setprofile = _tpt_sys.settrace, _tpt_sys.setprofile
_tpt_clean_builtins = _tpt_dict(_tpt_builtins.__dict__)
_tpt_candidate = {"__name__": "__candidate__", "__builtins__": _tpt_dict(_tpt_clean_builtins)}
_tpt_run(_tpt_build(%(completion)r, "<completion>", "exec"), _tpt_candidate)
_tpt_settrace(None)
_tpt_setprofile(None)
# Plain-assert tests name the candidate's functions; names shadowing builtins stay the candidate's.
_tpt_tests = {_tpt_name: _tpt_value for _tpt_name, _tpt_value in _tpt_candidate.items()
              if _tpt_name not in _tpt_clean_builtins or _tpt_name == %(entry_point)r}
_tpt_tests.update({"__name__": "__tests__", "__builtins__": _tpt_dict(_tpt_clean_builtins)})
_tpt_run(_tpt_build(%(tests)r, "<tests>", "exec"), _tpt_tests)
if %(entry_point)r is not None:
    _tpt_tests["check"](_tpt_candidate[%(entry_point)r])
'''


def program_for(completion: str, tests: str, entry_point: str | None) -> str:
    """A complete program: `completion`, then `tests`, then `check(entry_point)` if one is named.

    HumanEval style: `tests` define `check(candidate)` and `entry_point` names the function to
    check. MBPP style: `tests` are plain `assert` lines naming the functions; `entry_point` is None.
    """
    if entry_point is not None and not entry_point.isidentifier():
        raise ValueError(f"entry_point must be a Python name, not {entry_point!r}")
    return PROGRAM % {"completion": completion, "tests": tests, "entry_point": entry_point}


@dataclass(frozen=True)
class _Plan:
    """How runs are started on this machine, worked out once per Limits' isolation settings."""

    python: str
    user: int | None  # drop to this uid before unsharing (the pipeline runs as root)
    group: int | None
    unshare: str | None


def _unprivileged_ids(sandbox_user: str) -> tuple[int, int] | tuple[None, None]:
    if os.geteuid() != 0:
        return None, None
    try:
        entry = pwd.getpwnam(sandbox_user)
    except KeyError as missing:
        raise SandboxUnavailable(
            f"the pipeline runs as root and Limits.sandbox_user {sandbox_user!r} does not exist: "
            "name an unprivileged user (root ignores the process limit)") from missing
    return entry.pw_uid, entry.pw_gid


def _interpreters(requested: str | None) -> list[str]:
    if requested:
        return [requested]
    found = [os.path.realpath(sys.executable)]
    system = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if system and os.path.realpath(system) not in found:
        found.append(os.path.realpath(system))
    return found


@functools.lru_cache(maxsize=None)
def _plan(isolation: str, python: str | None, sandbox_user: str) -> _Plan:
    """Probe this machine once: the first interpreter that runs a trivial program wins."""
    unshare = shutil.which("unshare") if isolation == "namespace" else None
    if isolation == "namespace" and unshare is None:
        raise SandboxUnavailable(
            "namespace isolation needs util-linux `unshare`, which is not on PATH: install "
            "util-linux, or pass Limits(isolation='none') to run with rlimits only")
    user, group = _unprivileged_ids(sandbox_user) if isolation == "namespace" else (None, None)
    failures = []
    for python_path in _interpreters(python):
        plan = _Plan(python=python_path, user=user, group=group, unshare=unshare)
        outcome = _run(plan, "pass", Limits(isolation=isolation, timeout_seconds=30))
        if outcome.passed:
            return plan
        failures.append(f"{python_path}: {outcome.status}: {outcome.stderr_tail.strip()[-300:]}")
    hint = ("check that unprivileged user namespaces are enabled (`unshare -rn true`), or pass "
            "Limits(isolation='none') to run with rlimits only")
    if user is not None:
        hint = (f"as root the sandbox runs as {sandbox_user!r}, which must be able to execute the "
                "interpreter: pass Limits(python=...) naming one it can, or " + hint)
    raise SandboxUnavailable(
        f"cannot build the {isolation!r} sandbox here; {hint}. Tried: " + " | ".join(failures))


def _environment(workdir: str) -> dict[str, str]:
    # Nothing from the pipeline's environment: no tokens, no credentials, no proxies.
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir,
            "TMPDIR": workdir, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}


def _command(plan: _Plan, limits: Limits, workdir: str) -> list[str]:
    if plan.unshare is None:
        return [plan.python, "-I", "-S", "-B", "program.py"]
    return [plan.unshare, "--user", "--map-root-user", "--net", "--mount", "--pid", "--fork",
            "--kill-child", plan.python, "-I", "-S", "-B", "-c", LAUNCHER, workdir, plan.python,
            str(limits.cpu_seconds), str(limits.memory_bytes), str(limits.file_size_bytes),
            str(limits.workdir_bytes), str(limits.max_processes)]


def _set_rlimits(limits: Limits) -> None:
    """Without namespaces the rlimits are set in the child before exec (no launcher runs)."""
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_bytes, limits.file_size_bytes))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _collect(process: subprocess.Popen, limits: Limits, deadline: float) -> tuple[bytes, bytes, str | None]:
    """Read stdout and stderr until both close; stop early on timeout or too much output."""
    chunks: dict[int, list[bytes]] = {process.stdout.fileno(): [], process.stderr.fileno(): []}
    received = 0
    stopped = None
    with selectors.DefaultSelector() as selector:
        for stream in (process.stdout, process.stderr):
            os.set_blocking(stream.fileno(), False)
            selector.register(stream.fileno(), selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                stopped = "timeout"
                break
            for key, _ in selector.select(timeout=remaining):
                data = os.read(key.fd, 65536)
                if not data:
                    selector.unregister(key.fd)
                    continue
                received += len(data)
                if received > limits.output_bytes:
                    stopped = "output_limit"
                    break
                chunks[key.fd].append(data)
            if stopped:
                break
    return (b"".join(chunks[process.stdout.fileno()]), b"".join(chunks[process.stderr.fileno()]),
            stopped)


def _status(returncode: int, stdout: bytes, stderr_tail: str, token: bytes, stopped: str | None) -> str:
    if stopped:
        return stopped
    if returncode == 0 and stdout.endswith(b"\n" + VERDICT_MARK + token + b"\n"):
        return "passed"
    if returncode == SETUP_FAILED_EXIT and "think-prune-train sandbox:" in stderr_tail:
        return "error"
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return "timeout"  # without namespaces the CPU limit is what sends these
    if "MemoryError" in stderr_tail:
        return "memory"
    return "failed"


def _run(plan: _Plan, source: str, limits: Limits) -> Outcome:
    token = secrets.token_hex(16).encode()
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="tpt-sandbox-")
    try:
        program_path = os.path.join(workdir, "program.py")
        with open(program_path, "w", encoding="utf-8") as handle:
            handle.write(WRAPPER % {"mark": VERDICT_MARK, "source": source})
        if plan.user is not None:
            os.chown(workdir, plan.user, plan.group)
            os.chown(program_path, plan.user, plan.group)
        process = subprocess.Popen(
            _command(plan, limits, workdir), cwd=workdir, env=_environment(workdir),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, close_fds=True, user=plan.user, group=plan.group,
            extra_groups=[] if plan.user is not None else None,
            preexec_fn=functools.partial(_set_rlimits, limits) if plan.unshare is None else None)
        try:
            try:
                process.stdin.write(token + b"\n")
                process.stdin.close()
            except BrokenPipeError:
                pass  # it died before reading: the exit status tells the rest
            stdout, stderr, stopped = _collect(process, limits, started + limits.timeout_seconds)
        finally:
            # Always: a finished program may have left children in its process group.
            _kill_group(process)
            # wait4, not wait: its CPU time includes the reaped program, which tells a CPU-limit
            # kill apart from a crash (unshare reports a child killed by a signal as exit 1).
            _, wait_status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(wait_status)
            process.stdout.close()
            process.stderr.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    stderr_tail = stderr.decode("utf-8", "replace")[-STDERR_TAIL_CHARS:]
    if stopped is None and usage.ru_utime + usage.ru_stime >= limits.cpu_seconds:
        stopped = "timeout"
    status = _status(process.returncode, stdout, stderr_tail, token, stopped)
    return Outcome(passed=status == "passed", status=status, duration=time.monotonic() - started,
                   stderr_tail=stderr_tail, exit_code=process.returncode)


def run_program(source: str, limits: Limits = Limits()) -> Outcome:
    """Run one complete program in the sandbox; passed means it ran to its end and exited 0."""
    plan = _plan(limits.isolation, limits.python, limits.sandbox_user)
    return _run(plan, source, limits)


def run_many(sources: Sequence[str] | Iterable[str], limits: Limits = Limits(),
             workers: int | None = os.cpu_count(), progress: str | None = None) -> list[Outcome]:
    """Run programs in parallel, one sandbox each; outcomes come back in the order of `sources`.

    `progress` labels a tqdm bar; None shows none.
    """
    sources = list(sources)
    _plan(limits.isolation, limits.python, limits.sandbox_user)  # fail once, before any thread
    with ThreadPoolExecutor(max_workers=max(1, workers or 1)) as pool:
        outcomes = pool.map(lambda source: run_program(source, limits), sources)
        if progress is not None:
            from tqdm import tqdm

            outcomes = tqdm(outcomes, total=len(sources), desc=progress, unit="program")
        return list(outcomes)


def isolation_report(limits: Limits = Limits()) -> str:
    """Plain words on what a run with these limits enforces on this machine, and what it does not."""
    try:
        plan = _plan(limits.isolation, limits.python, limits.sandbox_user)
    except SandboxUnavailable as unavailable:
        return f"isolation {limits.isolation!r} is NOT available: {unavailable}"
    lines = [f"isolation: {limits.isolation}", f"interpreter: {plan.python} (-I -S -B)",
             f"wall clock: {limits.timeout_seconds}s, then the process group is killed",
             f"CPU: {limits.cpu_seconds}s per process (RLIMIT_CPU)",
             f"address space: {limits.memory_bytes} bytes per process (RLIMIT_AS)",
             f"file size: {limits.file_size_bytes} bytes (RLIMIT_FSIZE); no core dumps",
             f"output: {limits.output_bytes} bytes of stdout+stderr, then killed",
             "environment: scrubbed (PATH, LANG, HOME/TMPDIR = workdir)"]
    if plan.unshare is None:
        nproc = "per real user, shared with every process of that user" if os.geteuid() else \
            "NOT enforced: the pipeline runs as root, which the kernel exempts"
        lines += [f"processes: {limits.max_processes} (RLIMIT_NPROC), {nproc}",
                  "network: NOT isolated", "file system: NOT isolated (only the cwd is empty)",
                  "processes: NOT isolated; a child that calls setsid() survives the kill",
                  "/proc and the pipeline's processes: visible"]
    else:
        who = (f"runs as {limits.sandbox_user!r} (uid {plan.user}), since root ignores it"
               if plan.user is not None else "runs as the pipeline's user")
        lines += [f"processes: {limits.max_processes} per run (RLIMIT_NPROC per user namespace; "
                  f"{who})",
                  "network: own empty network namespace (no interface up, loopback included)",
                  f"file system: read-only everywhere; workdir a {limits.workdir_bytes}-byte tmpfs",
                  "PID namespace: the program cannot see or signal the pipeline; all its "
                  "processes die with it",
                  "/proc: hidden; capabilities: none (bounding set emptied, no_new_privs)"]
    lines.append("verdict: token line from the wrapper after the program ran, plus exit 0; "
                 "not proof against code that walks interpreter frames (see the module docstring)")
    return "\n".join(lines)
