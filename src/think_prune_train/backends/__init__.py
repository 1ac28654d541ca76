"""Generation backends: one interface, chosen by the `generate.backend` / `evaluate.backend` parameters.

A backend turns prompts into completions. Each request carries its own seed, so a completion
depends only on (model, prompt, sampling settings, seed), never on how requests were batched
or ordered across runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Sampling:
    """How to decode. `temperature == 0` means greedy decoding."""

    temperature: float
    top_p: float
    max_new_tokens: int


@dataclass(frozen=True)
class Request:
    prompt: str
    seed: int


class Backend(Protocol):
    def generate(self, requests: list[Request], sampling: Sampling, progress: str | None = None) -> list[str]:
        """One completion per request, in request order; `progress` labels a progress bar (None: no bar)."""
        ...


BACKENDS = ("transformers",)


def load_backend(name: str, model_path: str, **options) -> Backend:
    """Build the named backend for the model folder at `model_path`."""
    if name == "transformers":
        from think_prune_train.backends.hf import TransformersBackend

        return TransformersBackend(model_path, **options)
    raise ValueError(f"generate.backend={name!r} is not a backend; choose one of {', '.join(BACKENDS)}")
