"""Run untrusted Python in a child process tree that sees almost nothing of the host and can always be killed.

Two kinds of program run here. Model-written code runs in the *candidate's* process, and the
tests that judge it run in a separate *judge's* process (think_prune_train.verify.judge); this
module builds the box each of them runs in, and `run_program` runs one plain program in it.
Standard library only.

How a run is isolated (`isolation="namespace"`, the default):

- `unshare --user --map-root-user --net --mount --pid --fork --kill-child` puts the run in new
  user, network, mount and PID namespaces. The network namespace has only a loopback that is down:
  every connect, to 127.0.0.1 included, fails, and abstract Unix sockets (which belong to a network
  namespace) of the host are out of reach. In the PID namespace the program cannot see or signal
  the pipeline, and when it (PID 1 there) exits or is killed, the kernel kills everything it
  forked, `setsid()` or not.
- A launcher, trusted code that runs inside the namespaces as the program's first lines, builds a new
  root file system out of a tmpfs and read-only bind mounts of only what the interpreter needs: the
  interpreter, its standard library (with `site-packages` hidden), the shared libraries that it
  and the standard library's extension modules link to (found with `ldd` once per machine), and
  `/dev/null`, `/dev/zero`, `/dev/random` and `/dev/urandom`. It moves into that root with
  `pivot_root` and detaches the old one, so no path leads back to the host: no `/home`, no
  repository, no data set, no DVC cache, no `/etc`, no host `/tmp` and no socket file of the host.
  It then makes every mount read-only (`mount_setattr(AT_RECURSIVE)`), mounts a size-capped tmpfs
  on `/tmp` as the working directory (the only writable place), and leaves `/proc` out. Last it
  sets the rlimits (CPU seconds, address space, file size, processes, no core dumps), sets the
  namespace's own limit of user namespaces to 0 (no nested one), sets no_new_privs, empties the
  bounding set and drops every capability it holds (`capset`), then returns to the program's own
  lines in the same interpreter: the program holds no capability and cannot remount, unmount or
  `chroot` its way out.
- RLIMIT_NPROC: the kernel counts processes per user *per user namespace*, so the cap is per run,
  not shared by parallel runs. It ignores the limit for real root, though: when the pipeline runs
  as root, every run (in either isolation) first drops to an unprivileged user
  (`Limits.sandbox_user`, nobody) and the interpreter must be one that user can execute
  (`sys.executable` if it can, else the system `python3`; see `isolation_report`).
- The parent kills the whole process group at the wall-clock timeout, reads at most
  `Limits.output_bytes` of stdout plus stderr (killing the run when it prints more), gives the
  program a minimal environment (no secrets of the pipeline's environment) and runs the interpreter
  with `-I -S -B` (no user site, no site-packages, no environment variables, no bytecode files).
  The program's text reaches the interpreter as `-c` (trusted code only) and data on stdin.

`isolation="none"` keeps only the rlimits (all but the process limit, which outside a user
namespace counts every process of the user machine-wide), the process-group kill, the output
cap, an empty working directory, the scrubbed environment and, as root, the drop to
`Limits.sandbox_user`: no network, file system or PID isolation, and a child that calls
`setsid()` escapes the kill. It must be asked for by name; nothing falls back to it silently.

What this does not stop, stated plainly: the program shares the host's kernel, and no seccomp
filter narrows its system calls, so a kernel exploit would leave any namespace sandbox (gVisor or a
VM is the next step up). Under `isolation="none"` it can read every world-readable file, the
repository's data (and so the tests' expected values) included, and reach host sockets: that
mode is for machines without user namespaces and code trusted more, as its name says.

`run_program` says "passed" when the program ran to its end and exited 0: it needs exit status 0
*and* stdout ending in a line carrying a random token that the parent draws for the run. The
token comes on stdin ahead of the program's text, and a wrapper writes the token line only when
the program returned normally, so `sys.exit(0)`, `os._exit(0)` or printing a fake line do not
pass. A program written against the wrapper (one that walks interpreter frames to it) can still
fake that line; that is why no verdict of the pipeline rests on it. Code is graded by
think_prune_train.verify.judge, where the verdict never shares a process with the candidate.
"""

from __future__ import annotations

import functools
import json
import os
import pwd
import re
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



# Runs inside the namespaces, as their root, as the first lines of every program: builds the new
# root, sets the limits, drops every capability, then returns to the program's own lines in the
# same interpreter (a second interpreter would cost 14 ms a run). argv: see `_command`. No json:
# importing it costs 13 ms.
LAUNCHER = r"""
def _tpt_enter_sandbox():
    import ctypes, os, resource, sys

    def fail(what):
        err = ctypes.get_errno()
        sys.stderr.write("think-prune-train sandbox: %s failed: %s\n" % (what, os.strerror(err)))
        sys.stderr.flush()
        os._exit(125)

    root = sys.argv[1]
    pivot_root, workdir_bytes, cpu, memory, file_size, processes = (int(value) for value in sys.argv[2:8])
    binds = [(line[1:], line[0] == "d") for line in sys.argv[8].split("\n") if line]
    hidden = [line for line in sys.argv[9].split("\n") if line]
    del sys.argv[1:]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MNT_DETACH = 1, 2, 4, 8, 4096, 16384, 2

    def mount(source, target, kind, flags, data, what):
        if libc.mount(source, target.encode(), kind, flags, data) != 0:
            fail(what)

    mount(b"tmpfs", root, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64k,mode=0755", "mounting the new root")
    for path, is_dir in binds:
        target = root + path
        if is_dir:
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
        mount(path.encode(), target, None, MS_BIND | MS_REC, None, "binding " + path)
    for path in hidden:
        mount(b"tmpfs", root + path, b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, b"size=4k",
              "hiding " + path)
    os.makedirs(root + "/tmp", exist_ok=True)
    # No user namespace inside this one (the limit is this namespace's own): a nested one would give
    # the program capabilities again, over its own mounts only, but over much more of the kernel.
    try:
        with open("/proc/sys/user/max_user_namespaces", "w") as limit:
            limit.write("0")
    except OSError:
        pass  # an older kernel: the program's mounts stay locked and read-only all the same
    os.chdir(root)
    # pivot_root(".", ".") stacks the old root under the new one; detaching it leaves no way back.
    if libc.syscall(pivot_root, b".", b".") != 0:
        fail("pivot_root")
    if libc.umount2(b".", MNT_DETACH) != 0:
        fail("detaching the old root")
    os.chdir("/")

    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

    SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1
    attr = MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    if libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, ctypes.byref(attr),
                    ctypes.sizeof(attr)) != 0:
        fail("making the file system read-only (mount_setattr, Linux 5.12+)")
    mount(b"tmpfs", "/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, b"size=%d,mode=0700" % workdir_bytes,
          "mounting the tmpfs working directory")
    os.chdir("/tmp")

    # The kernel sends SIGXCPU at the soft limit, which PID 1 ignores; SIGKILL at the hard one cannot be.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        fail("setting no_new_privs")
    for capability in range(64):  # nothing gained back through exec
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            break

    class CapHeader(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class CapData(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    # No exec follows, so the capabilities this process holds now must go too (version 3: 64 bits).
    if libc.capset(ctypes.byref(CapHeader(0x20080522, 0)), (CapData * 2)()) != 0:
        fail("dropping capabilities")


_tpt_enter_sandbox()
del _tpt_enter_sandbox
"""

# `run_program`'s program: takes the token and the source from stdin, then runs the source; the
# token line is written only when the source returned normally.
WRAPPER = r'''
def _think_prune_train_run():
    import os, sys
    data = b""
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        data += chunk
    token, _, source = data.partition(b"\n")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    write, exit_now, run, build = os.write, os._exit, exec, compile  # noqa: S102 - runs the program, sandboxed
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    run(build(source, "<program>", "exec"), namespace)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    write(1, b"\n" + %(mark)r + token + b"\n")
    exit_now(0)


_think_prune_train_run()
'''

# pivot_root has no wrapper in older C libraries; its number differs between architectures.
PIVOT_ROOT_SYSCALL = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217, "riscv64": 41}
# Device files a program may open; everything else of /dev stays out.
DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")
# Where the launcher mounts the new root before moving into it (hidden in the run's own mount
# namespace only). The first that exists and holds nothing the new root needs is used.
ROOT_MOUNT_POINTS = ("/mnt", "/tmp", "/var/tmp", "/media", "/srv", "/opt")
# Run as the sandbox's user: where the interpreter's standard library lies.
PROBE = ("import json, os, sys, sysconfig; paths = sysconfig.get_paths(); "
         "print(json.dumps({'executable': os.path.realpath(sys.executable), "
         "'stdlib': os.path.realpath(paths['stdlib']), 'platstdlib': os.path.realpath(paths['platstdlib'])}))")


@dataclass(frozen=True)
class _Plan:
    """How runs are started on this machine, worked out once per Limits' isolation settings."""

    python: str
    user: int | None  # drop to this uid before starting (the pipeline runs as root)
    group: int | None
    unshare: str | None
    binds: tuple[tuple[str, bool], ...] = ()  # (host path, is a folder) made visible, read-only
    hidden: tuple[str, ...] = ()  # folders inside the binds covered by an empty tmpfs
    root: str = "/mnt"


def _unprivileged_ids(sandbox_user: str) -> tuple[int, int] | tuple[None, None]:
    if os.geteuid() != 0:
        return None, None
    try:
        entry = pwd.getpwnam(sandbox_user)
    except KeyError as missing:
        raise SandboxUnavailable(
            f"the pipeline runs as root and Limits.sandbox_user {sandbox_user!r} does not exist: "
            "name an unprivileged user (root must not run model-written code, and it ignores the "
            "process limit)") from missing
    return entry.pw_uid, entry.pw_gid


def _interpreters(requested: str | None) -> list[str]:
    if requested:
        return [requested]
    found = [os.path.realpath(sys.executable)]
    system = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if system and os.path.realpath(system) not in found:
        found.append(os.path.realpath(system))
    return found


def _shared_libraries(files: list[str]) -> list[str]:
    """Every shared library `files` load, as `ldd` names them (the dynamic loader included)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        raise SandboxUnavailable("namespace isolation needs `ldd` (the C library's) to find what the "
                                 "interpreter loads; install it, or pass Limits(isolation='none')")
    result = subprocess.run([ldd, *files], capture_output=True, text=True, check=False,
                            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    found = set()
    for line in result.stdout.splitlines():
        match = re.search(r"=>\s+(/\S+)\s+\(", line) or re.match(r"\s+(/\S+)\s+\(", line)
        if match:
            found.add(match.group(1))
    return sorted(found)


def _view(python: str, user: int | None, group: int | None) -> tuple[tuple[tuple[str, bool], ...], tuple[str, ...], str]:
    """What the new root shows of the host for `python`: (binds, hidden folders, mount point)."""
    try:
        probe = subprocess.run([python, "-I", "-S", "-c", PROBE], capture_output=True, text=True,
                               check=True, timeout=60, user=user, group=group,
                               extra_groups=[] if user is not None else None, cwd="/",
                               env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        paths = json.loads(probe.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        raise SandboxUnavailable(f"cannot ask {python} where its standard library is: {error}") from None
    if any("\n" in str(path) for path in paths.values()):
        raise SandboxUnavailable(f"{python}'s paths hold a line break: {paths}")
    folders = sorted({paths["stdlib"], paths["platstdlib"]})
    extensions = [os.path.join(folder, "lib-dynload", name) for folder in folders
                  if os.path.isdir(os.path.join(folder, "lib-dynload"))
                  for name in sorted(os.listdir(os.path.join(folder, "lib-dynload"))) if name.endswith(".so")]
    files = [paths["executable"], *_shared_libraries([paths["executable"], *extensions]), *DEVICES]
    # A file inside a bound folder is already there; binding it again would write into the host's folder.
    inside = lambda path, folder: path == folder or path.startswith(folder.rstrip("/") + "/")  # noqa: E731
    binds = [(folder, True) for folder in folders]
    binds += [(path, False) for path in dict.fromkeys(files) if not any(inside(path, folder) for folder in folders)]
    hidden = tuple(os.path.join(folder, name) for folder in folders for name in ("site-packages", "dist-packages")
                   if os.path.isdir(os.path.join(folder, name)))
    for point in ROOT_MOUNT_POINTS:
        if os.path.isdir(point) and not os.path.islink(point) and not any(
                inside(path, point) or inside(point, path) for path, _ in binds):
            return tuple(binds), hidden, point
    raise SandboxUnavailable(f"no folder to build the sandbox's root on: each of {', '.join(ROOT_MOUNT_POINTS)} "
                             "is missing or holds the interpreter")


@functools.lru_cache(maxsize=None)
def _plan(isolation: str, python: str | None, sandbox_user: str) -> _Plan:
    """Probe this machine once: the first interpreter that runs a trivial program wins."""
    unshare = shutil.which("unshare") if isolation == "namespace" else None
    if isolation == "namespace" and unshare is None:
        raise SandboxUnavailable(
            "namespace isolation needs util-linux `unshare`, which is not on PATH: install "
            "util-linux, or pass Limits(isolation='none') to run with rlimits only")
    if isolation == "namespace" and os.uname().machine not in PIVOT_ROOT_SYSCALL:
        raise SandboxUnavailable(f"namespace isolation knows no pivot_root for {os.uname().machine}; "
                                 "pass Limits(isolation='none') to run with rlimits only")
    user, group = _unprivileged_ids(sandbox_user)
    failures = []
    for python_path in _interpreters(python):
        try:
            view = _view(python_path, user, group) if unshare else ((), (), "")
        except SandboxUnavailable as unavailable:
            failures.append(f"{python_path}: {unavailable}")
            continue
        plan = _Plan(python=python_path, user=user, group=group, unshare=unshare,
                     binds=view[0], hidden=view[1], root=view[2])
        try:
            outcome = _run(plan, "pass", Limits(isolation=isolation, timeout_seconds=30))
        except OSError as error:  # the sandbox's user cannot execute this interpreter
            failures.append(f"{python_path}: {error}")
            continue
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


def _command(plan: _Plan, limits: Limits, program: str) -> list[str]:
    if plan.unshare is None:
        return [plan.python, "-I", "-S", "-B", "-c", program]
    numbers = (PIVOT_ROOT_SYSCALL[os.uname().machine], limits.workdir_bytes, limits.cpu_seconds,
               limits.memory_bytes, limits.file_size_bytes, limits.max_processes)
    binds = "\n".join(("d" if is_dir else "f") + path for path, is_dir in plan.binds)
    return [plan.unshare, "--user", "--map-root-user", "--net", "--mount", "--pid", "--fork",
            "--kill-child", plan.python, "-I", "-S", "-B", "-c", LAUNCHER + program, plan.root,
            *map(str, numbers), binds, "\n".join(plan.hidden)]


def _set_rlimits(limits: Limits) -> None:
    """Without namespaces the rlimits are set in the child before exec (no launcher runs)."""
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_bytes, limits.file_size_bytes))
    # No RLIMIT_NPROC: outside a user namespace it counts every process of the user, machine-wide
    # (other runs, other services as nobody), and exec after the drop to that user fails with
    # EAGAIN whenever they add up to the cap, whatever the program does.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


@functools.lru_cache(maxsize=1)
def _setpriv() -> str | None:
    return shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Sandboxed:
    """One program running in the sandbox, spoken to through its stdin and stdout.

    Reads stop at `deadline` (time.monotonic()) or when stdout plus stderr pass
    `limits.output_bytes`; `stopped` then says which ("timeout", "output_limit"). `finish` kills
    the whole run and reaps it; call it always, in a `finally`.
    """

    def __init__(self, plan: _Plan, limits: Limits, program: str, deadline: float):
        self.limits, self.deadline, self.stopped = limits, deadline, None
        self.started = time.monotonic()
        # Without namespaces the program needs an empty folder of its own on the host's disk.
        self._workdir = tempfile.mkdtemp(prefix="tpt-sandbox-") if plan.unshare is None else None
        if self._workdir and plan.user is not None:
            os.chown(self._workdir, plan.user, plan.group)
        command, user = _command(plan, limits, program), plan.user
        setpriv = _setpriv()
        if user is not None and setpriv:
            # Popen(user=...) forks the whole pipeline (6 ms with torch loaded, more with a model);
            # without it Python uses vfork, and setpriv drops to the user before unshare runs.
            command = [setpriv, f"--reuid={plan.user}", f"--regid={plan.group}", "--clear-groups", *command]
            user = None
        self.process = subprocess.Popen(
            command, cwd=self._workdir or "/", env=_environment(self._workdir or "/tmp"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, close_fds=True, user=user, group=plan.group if user is not None else None,
            extra_groups=[] if user is not None else None,
            preexec_fn=functools.partial(_set_rlimits, limits) if plan.unshare is None else None)
        self._stdout, self._stderr = bytearray(), bytearray()
        self._received = 0
        self._selector = selectors.DefaultSelector()
        for stream in (self.process.stdout, self.process.stderr):
            os.set_blocking(stream.fileno(), False)
            self._selector.register(stream.fileno(), selectors.EVENT_READ)
        self.returncode: int | None = None
        self.cpu_seconds = 0.0

    def renew(self, deadline: float) -> None:
        """A new task for a reused process: a new deadline and a fresh output allowance."""
        self.deadline, self.stopped, self._received = deadline, None, 0

    def send(self, data: bytes, close: bool = False) -> bool:
        """Write `data` to the program's stdin; False when it no longer reads."""
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
            if close:
                self.process.stdin.close()
            return True
        except (BrokenPipeError, ValueError, OSError):
            return False

    def _pump(self) -> bool:
        """Wait for output once; False when there is nothing more to wait for."""
        if self.stopped or not self._selector.get_map():
            return False
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.stopped = "timeout"
            return False
        for key, _ in self._selector.select(timeout=remaining):
            data = os.read(key.fd, 65536)
            if not data:
                self._selector.unregister(key.fd)
                continue
            self._received += len(data)
            if self._received > self.limits.output_bytes:
                self.stopped = "output_limit"
                return False
            if key.fd == self.process.stdout.fileno():
                self._stdout += data
            else:
                self._stderr += data
                del self._stderr[:-STDERR_TAIL_CHARS * 4]
        return True

    def read_line(self) -> bytes | None:
        """The next line of stdout without its newline; None when none came (see `stopped`)."""
        while True:
            end = self._stdout.find(b"\n")
            if end >= 0:
                line = bytes(self._stdout[:end])
                del self._stdout[: end + 1]
                return line
            if self.process.stdout.fileno() not in self._selector.get_map() or not self._pump():
                return None

    def read_all(self) -> bytes:
        """Everything the program writes to stdout until it closes both streams, or is stopped."""
        while self._pump():
            pass
        return bytes(self._stdout)

    @property
    def stderr_tail(self) -> str:
        return self._stderr.decode("utf-8", "replace")[-STDERR_TAIL_CHARS:]

    def finish(self) -> None:
        """Kill the whole run, reap it and clean up; safe to call twice."""
        if self.returncode is not None:
            return
        # Always kill: a finished program may have left children in its process group.
        _kill_group(self.process)
        # wait4, not wait: its CPU time includes the reaped program, which tells a CPU-limit kill
        # apart from a crash (unshare reports a child killed by a signal as exit 1).
        _, wait_status, usage = os.wait4(self.process.pid, 0)
        self.returncode = self.process.returncode = os.waitstatus_to_exitcode(wait_status)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        self._selector.close()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                stream.close()
            except OSError:
                pass
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
        if self.stopped is None and self.cpu_seconds >= self.limits.cpu_seconds:
            self.stopped = "timeout"

    def ending(self) -> str | None:
        """Why the run ended early, once finished: None when nothing but the program itself ended it."""
        if self.stopped:
            return self.stopped
        if self.returncode == SETUP_FAILED_EXIT and "think-prune-train sandbox:" in self.stderr_tail:
            return "error"
        if self.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and self.cpu_seconds >= self.limits.cpu_seconds - 1:
            return "timeout"  # without namespaces the CPU limit is what sends these
        if "MemoryError" in self.stderr_tail:
            return "memory"
        return None


def start(limits: Limits, program: str) -> Sandboxed:
    """Start `program` (trusted text: it runs as `python -c`) in the sandbox `limits` describe."""
    plan = _plan(limits.isolation, limits.python, limits.sandbox_user)
    return Sandboxed(plan, limits, program, time.monotonic() + limits.timeout_seconds)


def _run(plan: _Plan, source: str, limits: Limits) -> Outcome:
    token = secrets.token_hex(16).encode()
    run = Sandboxed(plan, limits, WRAPPER % {"mark": VERDICT_MARK}, time.monotonic() + limits.timeout_seconds)
    try:
        run.send(token + b"\n" + source.encode("utf-8", "surrogateescape"), close=True)
        stdout = run.read_all()
    finally:
        run.finish()
    status = run.ending()
    if status is None:
        passed = run.returncode == 0 and stdout.endswith(b"\n" + VERDICT_MARK + token + b"\n")
        status = "passed" if passed else "failed"
    return Outcome(passed=status == "passed", status=status, duration=time.monotonic() - run.started,
                   stderr_tail=run.stderr_tail, exit_code=run.returncode)


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
    who = (f"runs as {limits.sandbox_user!r} (uid {plan.user}), not as root"
           if plan.user is not None else "runs as the pipeline's user")
    lines = [f"isolation: {limits.isolation}", f"interpreter: {plan.python} (-I -S -B)", f"user: {who}",
             f"wall clock: {limits.timeout_seconds}s, then the process group is killed",
             f"CPU: {limits.cpu_seconds}s per process (RLIMIT_CPU)",
             f"address space: {limits.memory_bytes} bytes per process (RLIMIT_AS)",
             f"file size: {limits.file_size_bytes} bytes (RLIMIT_FSIZE); no core dumps",
             f"output: {limits.output_bytes} bytes of stdout+stderr, then killed",
             "environment: scrubbed (PATH, LANG, HOME/TMPDIR = workdir)"]
    if plan.unshare is None:
        lines += ["processes: NOT limited per run (RLIMIT_NPROC would count every process of the user, "
                  "machine-wide)",
                  "network: NOT isolated", "file system: NOT isolated (only the cwd is empty)",
                  "processes: NOT isolated; a child that calls setsid() survives the kill",
                  "/proc and the pipeline's processes: visible"]
    else:
        folders = [path for path, is_dir in plan.binds if is_dir]
        files = [path for path, is_dir in plan.binds if not is_dir]
        lines += [f"processes: {limits.max_processes} per run (RLIMIT_NPROC per user namespace)",
                  "network: own empty network namespace (no interface up, loopback included; no "
                  "abstract Unix sockets of the host)",
                  f"file system: a new root (pivot_root; the host's is detached) showing, read-only, only "
                  f"{', '.join(folders)} and {len(files)} files (the interpreter, its shared libraries, "
                  f"{', '.join(DEVICES)}); hidden: {', '.join(plan.hidden) or 'nothing'}; /tmp a "
                  f"{limits.workdir_bytes}-byte tmpfs (the working directory)",
                  "PID namespace: the program cannot see or signal the pipeline; all its "
                  "processes die with it",
                  "/proc: absent; capabilities: none (capset to nothing, bounding set emptied, "
                  "no_new_privs); no nested user namespace (its limit set to 0)"]
    lines.append("verdicts of code: judged in a separate process that never runs candidate code; the "
                 "candidate's process only returns plain data (think_prune_train.verify.judge)")
    return "\n".join(lines)
