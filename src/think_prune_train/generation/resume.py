"""Resumable generation: hours of sampling survive a crash, a kill or a pre-empted machine.

The requests are cut into fixed chunks of `chunk_size`. Each finished chunk is saved at once
(atomically) under `<root>/<label>/<fingerprint>/` (the caller chooses the root), where the fingerprint covers the
model's bytes, the backend, the sampling settings, the chunk size and every request. A rerun
with the same fingerprint loads the finished chunks and generates only the rest; anything
else (an edited model, other params) starts afresh. Every completion depends only on its own
request and the chunks are cut the same way every time, so a resumed result is identical to an
uninterrupted one. The stage calls `clear` once its real output is safely written.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from think_prune_train import failpoints
from think_prune_train.artifacts import atomic_write
from think_prune_train.generation.backends import Backend, Request, Sampling


@functools.lru_cache(maxsize=8)
def _model_digest(model_path: str) -> str:
    """sha256 over a folder's files, or a file's bytes (read once per process: evaluate fingerprints twice)."""
    folder = Path(model_path)
    if not folder.exists():  # a hub id: the name is all we know
        return model_path
    digest = hashlib.sha256()
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    for file in files:
        digest.update(file.relative_to(folder).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _save_chunk(file: Path, completions: list[str]) -> None:
    frame = pd.DataFrame({"completion": completions})
    atomic_write(file, lambda temporary: frame.to_parquet(temporary, index=False))


def fingerprint(model_path: str, backend: str, sampling: Sampling, requests: list[Request], chunk_size: int) -> str:
    digest = hashlib.sha256()
    settings = {"backend": backend, "sampling": asdict(sampling), "chunk_size": chunk_size, "requests": len(requests)}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    digest.update(_model_digest(model_path).encode())
    for request in requests:
        digest.update(json.dumps([request.prompt, request.seed]).encode())
    return digest.hexdigest()[:24]


def _load_chunk(file: Path, expected: int) -> list[str] | None:
    """A saved chunk's completions, or None when it is missing or unreadable (then it is redone)."""
    if not file.exists():
        return None
    try:
        completions = pd.read_parquet(file)["completion"].tolist()
    except Exception:  # a damaged checkpoint is just regenerated
        return None
    return completions if len(completions) == expected else None


def generate_resumable(
    backend: Backend,
    requests: list[Request],
    sampling: Sampling,
    *,
    label: str,
    model_path: str,
    backend_name: str,
    chunk_size: int,
    root: Path,
) -> list[str]:
    """`backend.generate(requests, sampling)`, checkpointed chunk by chunk under `root/label`."""
    key = fingerprint(model_path, backend_name, sampling, requests, chunk_size)
    folder = root / label.replace("@", "-") / key
    if folder.parent.exists():  # checkpoints of other settings can never be used again
        for stale in folder.parent.iterdir():
            if stale != folder:
                shutil.rmtree(stale, ignore_errors=True)
    chunks = [requests[start : start + chunk_size] for start in range(0, len(requests), chunk_size)]
    files = [folder / f"{index:06d}.parquet" for index in range(len(chunks))]
    done = [_load_chunk(file, len(chunk)) for file, chunk in zip(files, chunks)]
    finished = sum(saved is not None for saved in done)
    if finished:
        print(f"{label}: resuming, {finished}/{len(chunks)} chunks of {chunk_size} were already done", file=sys.stderr)
    for index, (chunk, file) in enumerate(zip(chunks, files)):
        if done[index] is not None:
            continue
        generated = backend.generate(chunk, sampling, progress=f"{label} [{index + 1}/{len(chunks)}]")
        _save_chunk(file, generated)
        failpoints.reached(f"{label.split('@')[0]}.chunk")
        done[index] = generated
    return [completion for saved in done for completion in saved]


def work_folder(label: str, settings: dict, inputs: list[str], root: Path) -> Path:
    """A folder for the intermediate results of a job of several steps (a teacher trial), keyed by
    its `settings` and the bytes of its `inputs`: a rerun with the same ones finds the steps that
    finished; any other folder of `label` is stale and removed. `clear(label)` drops it when done."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in inputs:
        digest.update(_model_digest(path).encode())
    folder = root / label.replace("@", "-") / digest.hexdigest()[:24]
    if folder.parent.exists():
        for stale in folder.parent.iterdir():
            if stale != folder:
                shutil.rmtree(stale, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def clear(label: str, root: Path) -> None:
    """Forget the checkpoints of `label` (after its output has been written)."""
    shutil.rmtree(root / label.replace("@", "-"), ignore_errors=True)
