"""Where the pipeline may write: only inside the repository's data, model and result folders.

Output paths come from command-line options and round names; a value such as `../../etc` or an
absolute path elsewhere is refused before anything is written. The check is lexical (it does
not follow symlinks), so DVC's symlinked or hardlinked cache outputs still pass.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from think_prune_train.errors import Error

WRITABLE = ("data", "models", "evaluations", "reports")
ROUND = re.compile(r"r\d+")


class PathError(Error, ValueError):
    """An output path or round name that would write outside the allowed folders."""


def check_round(name: str, option: str = "--round") -> str:
    if not ROUND.fullmatch(name):
        raise PathError(f"{option} {name!r}: a round is named r<N> (r0, r1, ...).")
    return name


def writable(path: str | Path, option: str = "--out") -> Path:
    """`path` itself, once it is known to lie under one of WRITABLE in the current directory."""
    root = os.path.abspath(os.getcwd())
    target = os.path.normpath(os.path.join(root, os.fspath(path)))
    for folder in WRITABLE:
        allowed = os.path.join(root, folder)
        if target == allowed or target.startswith(allowed + os.sep):
            return Path(path)
    raise PathError(
        f"{option} {os.fspath(path)!r} resolves to {target}, outside this repository's "
        f"{', '.join(folder + '/' for folder in WRITABLE)}; stages write only there."
    )
