"""`python -m stages verify` finds a corrupted DVC cache object that DVC itself would use silently."""

from __future__ import annotations

import os
import shutil

import pytest
from support import DVC, STAGES, attempt, run

pytestmark = pytest.mark.slow  # needs the micro reference run


def test_a_flipped_byte_in_the_cache_is_found_and_named(reference_project, tmp_path):
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(reference_project), str(clone)], tmp_path)
    shutil.copytree(reference_project / ".dvc" / "cache", clone / ".dvc" / "cache")
    run(DVC + ["checkout", "-q"], clone)
    clean = attempt(STAGES + ["verify"], clone)
    assert clean.returncode == 0 and ", 0 bad" in clean.stdout, clean.stdout + clean.stderr

    # The checkpoint's weights, as stored in the cache: flip one byte, keep size, mode and mtime.
    weights = (clone / "models" / "r1" / "model.safetensors").resolve()
    import hashlib

    digest = hashlib.md5(weights.read_bytes()).hexdigest()
    cached = clone / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]
    stat = cached.stat()
    os.chmod(cached, 0o644)
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    os.chmod(cached, stat.st_mode)
    os.utime(cached, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    assert "modified" not in run(DVC + ["status"], clone)  # DVC itself does not notice
    found = attempt(STAGES + ["verify"], clone)
    assert found.returncode == 1
    assert "models/r1/model.safetensors" in found.stderr and "corrupt" in found.stderr
