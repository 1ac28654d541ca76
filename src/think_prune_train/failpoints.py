"""Named places where the fault tests kill the process, to prove that a crash loses nothing.

Production code calls `reached("generate.chunk")` at points worth crashing at (a chunk of samples
saved, a training step done, a file written but not yet moved into place). Nothing happens
unless the environment variable `TPT_FAILPOINT` names that point: `TPT_FAILPOINT=train.step:3`
sends SIGKILL to this process the third time a training step ends. SIGKILL cannot be caught,
so cleanup handlers do not run: exactly what a power cut or the OOM killer does.

`TPT_FAILPOINT_LOG=<file>` appends the name of every point reached to that file, killing nothing:
a test that kills the process from outside waits for a point there instead of sleeping.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter[str] = Counter()


def _target() -> tuple[str, int] | None:
    spec = os.environ.get("TPT_FAILPOINT", "")
    if not spec:
        return None
    name, _, count = spec.partition(":")
    return name, int(count or 1)


def reached(name: str) -> None:
    """Log `name` to `TPT_FAILPOINT_LOG`; kill this process if `TPT_FAILPOINT` asks for the current hit of `name`."""
    log = os.environ.get("TPT_FAILPOINT_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(name + "\n")
    target = _target()
    if target is None or target[0] != name:
        return
    _hits[name] += 1
    if _hits[name] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
