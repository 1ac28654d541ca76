"""What every stage entry point shares: turning user-facing errors into one clear line."""

from __future__ import annotations

import sys

import click

from think_prune_train.artifacts import DataContractError
from think_prune_train.params import ParamsError
from think_prune_train.paths import PathError, check_round
from think_prune_train.sources import ModelSourceError
from think_prune_train.tasks import TaskError
from think_prune_train.verifiers import AnswerError

# Errors caused by input or configuration: print the message (it names the file, row or key
# and what to do) instead of a traceback.
USER_ERRORS = (
    ParamsError, DataContractError, TaskError, PathError, ModelSourceError, AnswerError, FileNotFoundError, ImportError,
)

OUT_OF_MEMORY_ADVICE = (
    "lower generate.batch_size / evaluate.batch_size (generation), train.batch_size with a larger "
    "train.gradient_accumulation (training), or max_new_tokens / train.max_length, or use a smaller model."
)


def _is_out_of_memory(error: BaseException) -> bool:
    """CUDA raises torch.OutOfMemoryError; the CPU allocator raises a RuntimeError saying so."""
    import torch

    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text.lower())


def round_option(context: click.Context, parameter: click.Parameter, value: str) -> str:
    """click callback: a round name must look like r<N>; it becomes part of output paths."""
    if value is None or value == "start":
        return value
    try:
        return check_round(value, f"--{parameter.name}")
    except PathError as error:
        raise click.BadParameter(str(error)) from None


def open_backend(section, model_path: str, params: dict, seed: int):
    """The generation backend a `generate` or `evaluate` section names, for `model_path`.

    `base.trust_remote_code` applies to every model the pipeline loads; a vLLM engine also gets
    the `vllm` section's settings and its own seed (`seed` is already derived for the stage).
    With `ray.workers > 0` the same backend runs in that many Ray workers (one engine each), and
    the stage gets a backend that spreads every chunk of requests over them.
    """
    from dataclasses import asdict

    from think_prune_train.backends import load_backend
    from think_prune_train.params import ParamsError, load_section

    options = {"batch_size": section.batch_size, "trust_remote_code": load_section("base", params).trust_remote_code}
    if section.backend == "vllm":
        options.update(seed=seed % 2**31, engine=asdict(load_section("vllm", params)))
    ray = load_section("ray", params)
    if ray.workers == 0:
        return load_backend(section.backend, model_path, **options)
    if section.backend == "vllm" and 0 < ray.gpus_per_worker < options["engine"]["tensor_parallel_size"]:
        raise ParamsError.at(
            "ray.gpus_per_worker",
            f"{ray.gpus_per_worker:g} GPUs per worker cannot hold a vLLM engine split over "
            f"vllm.tensor_parallel_size={options['engine']['tensor_parallel_size']} GPUs: set gpus_per_worker to it",
        )
    from think_prune_train.backends.ray_pool import RayBackend

    settings = {name: value for name, value in asdict(ray).items() if name != "workers"}
    return RayBackend(section.backend, model_path, options, workers=ray.workers, **settings)


def run(command: click.Command) -> None:
    try:
        command.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except USER_ERRORS as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except (MemoryError, RuntimeError) as error:
        if not _is_out_of_memory(error):
            raise
        # Python's own MemoryError usually has no message at all.
        detail = str(error).strip().splitlines()
        cause = f" ({detail[0][:200]})" if detail else ""
        click.echo(f"error: out of memory{cause}. To fit, {OUT_OF_MEMORY_ADVICE}", err=True)
        sys.exit(3)
