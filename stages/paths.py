"""Where the pipeline may write: only inside the repository's data, model and result folders.

Output paths come from command-line options and round names; a value such as `../../etc` or an
absolute path elsewhere is refused before anything is written. The path is checked as written and
again with its links resolved: a link inside `data/` to a folder outside the repository is refused.
The four folders themselves may be links (to a larger disk, say): what lies inside them must resolve
inside them. A link as the last part of a path that points at a file passes: every output is written
beside it and renamed over it, which replaces the link and never writes through it (DVC's symlinked
cache files are such links).
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
    """`path` itself, once it is known to lie under one of WRITABLE in the current directory, also
    with every link on the way resolved."""
    root = os.path.abspath(os.getcwd())
    target = os.path.normpath(os.path.join(root, os.fspath(path)))
    for folder in WRITABLE:
        allowed = os.path.join(root, folder)
        if target == allowed or target.startswith(allowed + os.sep):
            _check_links(path, target, os.path.realpath(allowed), option)
            return Path(path)
    raise PathError(
        f"{option} {os.fspath(path)!r} resolves to {target}, outside this repository's "
        f"{', '.join(folder + '/' for folder in WRITABLE)}; stages write only there."
    )


def _check_links(path: str | Path, target: str, allowed: str, option: str) -> None:
    existing = target
    while not os.path.lexists(existing):  # the part of the path that exists so far
        existing = os.path.dirname(existing)
    if existing != target and os.path.islink(existing) and not os.path.exists(existing):
        raise PathError(f"{option} {os.fspath(path)!r}: {existing} is a broken link or a link loop; remove it.")
    # A link to a file as the last part is replaced by the write's rename, never followed.
    judged = os.path.dirname(target) if existing == target and os.path.islink(target) and not os.path.isdir(target) else target
    resolved = os.path.realpath(judged)
    if resolved != allowed and not resolved.startswith(allowed + os.sep):
        raise PathError(
            f"{option} {os.fspath(path)!r} goes through a link to {resolved}, outside {allowed}; stages write only "
            f"inside this repository's {', '.join(folder + '/' for folder in WRITABLE)}: remove the link."
        )
    if existing == target and os.path.islink(target) and os.path.isdir(target) and resolved != allowed:
        raise PathError(f"{option} {os.fspath(path)!r} is a link to a folder; an output is replaced whole, never "
                        f"written through a link: remove it.")
