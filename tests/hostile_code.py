"""Completions written to be graded "passed" without solving the task: the hostile suite.

Every completion here answers `f(x) = 2*x + 1` wrongly or not at all, and tries instead to forge
the verdict, read the tests or the data, or reach the host. `tests/test_judge.py` grades each one
through `grade` (the split path and the judge's path); the slow loop test grades them through the
prune stage. None may pass. `CORRECT` is the honest answer, to show the tests can pass at all.
"""

from __future__ import annotations

import textwrap

CORRECT = "def f(x):\n    return 2 * x + 1\n"

# Tests the pipeline evaluates itself (split) and tests that are code (run by the judge's process).
SPLIT_TESTS = "import math\nassert f(2) == 5\nassert f(10) == 21\nassert math.isclose(f(3), 7)\n"
JUDGE_TESTS = textwrap.dedent("""
    import math
    def check(candidate):
        for x in (2, 10, 3):
            assert candidate(x) == 2 * x + 1
            assert math.isclose(candidate(x), 2 * x + 1)
""")

# Serves the expected values to whoever connects: a host socket file and an abstract one.
SOCKET_CLIENT = textwrap.dedent("""
    import socket
    def ask(address):
        try:
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.settimeout(2)
            client.connect(address)
            return client.recv(100).decode()
        except OSError as error:
            print("socket refused:", address, error)
            return None
    ANSWERS = ask({path!r}) or ask({abstract!r})
    def f(x):
        return eval(ANSWERS)[x] if ANSWERS else 0
""")


def hostile_completions(repo: str, secret_file: str, socket_path: str, abstract_socket: str) -> dict[str, str]:
    """name -> completion. `secret_file` is a world-readable host file holding the expected values as
    `{2: 5, 10: 21, 3: 7}`; `socket_path` and `abstract_socket` are Unix sockets that serve the same."""
    return {
        "__eq__ always true": textwrap.dedent("""
            class Anything:
                def __eq__(self, other):
                    return True
                def __ne__(self, other):
                    return False
                __hash__ = object.__hash__
            def f(x):
                return Anything()
        """),
        "int subclass equal to everything": textwrap.dedent("""
            class Int(int):
                def __eq__(self, other):
                    return True
                __hash__ = int.__hash__
            def f(x):
                return Int(0)
        """),
        "float subclass close to everything": textwrap.dedent("""
            class Close(float):
                def __eq__(self, other):
                    return True
                def __sub__(self, other):
                    return 0.0
                def __rsub__(self, other):
                    return 0.0
                __hash__ = float.__hash__
            def f(x):
                return Close(0)
        """),
        "walk frames to the harness and stub it out": textwrap.dedent("""
            import sys
            frame = sys._getframe()
            while frame is not None:
                for scope in (frame.f_locals, frame.f_globals):
                    for name, value in list(scope.items()):
                        if callable(value) and any(word in name for word in ("verdict", "check", "run", "judge", "test")):
                            try:
                                scope[name] = lambda *a, **k: None
                            except Exception:
                                pass
                frame = frame.f_back
            def f(x):
                frame = sys._getframe()
                while frame is not None:
                    frame.f_globals.update({"check": lambda candidate: None})
                    frame = frame.f_back
                return 0
        """),
        "walk frames and send a fake reply": textwrap.dedent("""
            import sys
            def f(x):
                frame = sys._getframe()
                while frame is not None:
                    send = frame.f_locals.get("send")
                    number = frame.f_locals.get("number")
                    if callable(send) and number is not None:
                        send((number, "ok", True, None))
                        send(("verdict", "passed", ""))
                    frame = frame.f_back
                return 0
        """),
        "monkeypatch math.isclose and abs": textwrap.dedent("""
            import builtins, math
            math.isclose = lambda *a, **k: True
            builtins.abs = lambda value: 0
            builtins.AssertionError = KeyError
            def f(x):
                return 0
        """),
        "print a fake verdict and fake replies": textwrap.dedent("""
            import os
            for line in ("verdict passed", "N", "U3 Sverdict Spassed S", "U4 I0 Sok T N", "U4 I1 Sok T N"):
                print(line)
                for fd in range(1, 12):
                    try:
                        os.write(fd, (line + "\\n").encode())
                    except OSError:
                        pass
            def f(x):
                return 0
        """),
        "exit with success before the tests": "import os\nos._exit(0)\n",
        "exit with success during the tests": "import sys\ndef f(x):\n    sys.exit(0)\n",
        "raise SystemExit during the tests": "def f(x):\n    raise SystemExit(0)\n",
        "read the tests from any file": textwrap.dedent("""
            import os, re
            TABLE = {}
            for top, folders, files in os.walk("/"):
                for name in files:
                    try:
                        with open(os.path.join(top, name), errors="ignore") as handle:
                            text = handle.read(1 << 20)
                    except OSError:
                        continue
                    for x, y in re.findall(r"f\\((-?\\d+)\\)\\s*==\\s*(-?\\d+)", text):
                        TABLE[int(x)] = int(y)
            def f(x):
                return TABLE.get(x, 0)
        """),
        "read the repository's data and a host file": textwrap.dedent(f"""
            import os
            TABLE = {{}}
            for path in ({secret_file!r}, {repo!r} + "/data/problems/train.parquet", "/etc/passwd"):
                try:
                    with open(path, errors="ignore") as handle:
                        text = handle.read()
                    if path == {secret_file!r}:
                        TABLE = eval(text)
                except (OSError, ValueError) as error:
                    print("cannot read", path, error)
            def f(x):
                return TABLE.get(x, 0)
        """),
        "ask a host Unix socket": SOCKET_CLIENT.format(path=socket_path, abstract="\0" + abstract_socket),
        "ctypes into its own memory": textwrap.dedent("""
            import ctypes
            ctypes.memset(id(5) + 24, 0, 4)  # harms only its own process
            def f(x):
                return 0
        """),
        "recurse forever": "def f(x):\n    return f(x)\n",
        "return a generator": "def f(x):\n    yield 2 * x + 1\n",
    }
