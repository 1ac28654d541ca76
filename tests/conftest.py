from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The shared GSM8K copy sits beside the repository (../shared/data/gsm8k); TPT_GSM8K overrides it.
GSM8K = Path(os.environ.get("TPT_GSM8K", REPO.parent / "shared" / "data" / "gsm8k"))

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def gsm8k_dir() -> Path:
    if not (GSM8K / "test.jsonl").exists():
        pytest.skip(f"GSM8K not found at {GSM8K}; set TPT_GSM8K to a folder with train.jsonl and test.jsonl")
    return GSM8K


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A freshly initialised 2-layer character-level Llama saved as a Hugging Face folder."""
    from think_prune_train.checkpoints import save_model
    from think_prune_train.training.tiny_model import build_char_tokenizer, build_tiny_llama

    tokenizer = build_char_tokenizer()
    model = build_tiny_llama(tokenizer, hidden_size=32, num_layers=2, num_heads=2, max_positions=128, seed=0)
    path = tmp_path_factory.mktemp("models") / "tiny"
    save_model(model, tokenizer, path)
    return path


@pytest.fixture(scope="session")
def reference_project(tmp_path_factory) -> Path:
    """A fresh micro-profile project after one uninterrupted `dvc repro`, committed. Do not modify it."""
    from support import DVC, new_project, run

    project = new_project(tmp_path_factory.mktemp("reference") / "repo")
    run(DVC + ["repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "uninterrupted run"], project)
    return project
