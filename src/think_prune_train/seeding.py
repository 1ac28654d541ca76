"""Every random draw in the pipeline derives its seed from the run's `seed` plus where it happens."""

from __future__ import annotations

import hashlib


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any tuple of values, stable across processes, machines and Python versions.

    `derive_seed(seed, "r2", question_id, 3)` seeds sample 3 of a question in round r2.
    """
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
