"""Resumable generation with the real transformers backend on a tiny model."""

from __future__ import annotations

import pytest
from support import Counting, Interrupted

from think_prune_train.generation.backends import Request, Sampling, load_backend
from think_prune_train.generation.resume import clear, generate_resumable

SAMPLING = Sampling(temperature=1.0, top_p=1.0, max_new_tokens=8)
REQUESTS = [Request(f"{i}+{i % 7}=", seed=1000 + i) for i in range(40)]


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    return load_backend("transformers", str(tiny_model_dir), batch_size=16)


def resumable(backend, tiny_model_dir, root, sampling=SAMPLING):
    return generate_resumable(
        backend, REQUESTS, sampling, label="generate@r1", model_path=str(tiny_model_dir),
        backend_name="transformers", chunk_size=12, root=root,
    )


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(backend, tiny_model_dir, tmp_path, capsys):
    uninterrupted = resumable(Counting(backend), tiny_model_dir, tmp_path / "a")
    assert uninterrupted == backend.generate(REQUESTS, SAMPLING)
    with pytest.raises(Interrupted):
        resumable(Counting(backend, fail_after=2), tiny_model_dir, tmp_path / "b")
    second = Counting(backend)
    assert resumable(second, tiny_model_dir, tmp_path / "b") == uninterrupted
    assert second.requests == 40 - 2 * 12  # only the unfinished chunks were generated again
    assert "resuming, 2/4 chunks" in capsys.readouterr().err
    clear("generate@r1", tmp_path / "b")
    assert not (tmp_path / "b" / "generate-r1").exists()


def test_other_settings_never_reuse_checkpoints(backend, tiny_model_dir, tmp_path):
    with pytest.raises(Interrupted):
        resumable(Counting(backend, fail_after=2), tiny_model_dir, tmp_path)
    colder = Sampling(temperature=0.5, top_p=1.0, max_new_tokens=8)
    again = Counting(backend)
    assert resumable(again, tiny_model_dir, tmp_path, colder) == backend.generate(REQUESTS, colder)
    assert again.requests == 40
    assert len(list((tmp_path / "generate-r1").iterdir())) == 1  # the stale checkpoints were removed


def test_a_damaged_checkpoint_is_regenerated(backend, tiny_model_dir, tmp_path):
    expected = resumable(Counting(backend), tiny_model_dir, tmp_path)
    chunk = next((tmp_path / "generate-r1").rglob("000001.parquet"))
    chunk.write_bytes(b"not parquet")
    again = Counting(backend)
    assert resumable(again, tiny_model_dir, tmp_path) == expected
    assert again.requests == 12
