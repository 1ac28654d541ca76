"""What every stage entry point shares: turning user-facing errors into one clear line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from stages.paths import PathError, check_round
from think_prune_train.errors import Error, MissingDependency, MissingInput

# Errors caused by input or configuration: print the message (it names the file, row or key
# and what to do) instead of a traceback. Every such error of the library derives from its Error
# (bad params, data, tasks, paths, model sources, and a missing optional package); anything else,
# an ImportError of a broken install included, is a bug and keeps its traceback.
USER_ERRORS = (Error, MissingDependency)

def fewshot_examples(path: str | Path, count: int, key: str) -> list[tuple[str, str]]:
    """The first `count` worked examples (question, solution) of prepare's few-shot file; `key` is the
    params key that asks for them, for the message when the file holds fewer."""
    if count == 0:
        return []
    from think_prune_train.artifacts import Problems, read_frame

    frame = read_frame(path, Problems)
    if len(frame) < count:
        raise click.ClickException(
            f"{key} is {count}, but {path} holds {len(frame)} worked examples: prepare draws them, "
            f"so run it again with these params (`dvc repro prepare`, or `python -m stages prepare`)."
        )
    return list(zip(frame["question"][:count], frame["solution"][:count]))


# Where generation saves finished chunks, so that a stage killed mid-way resumes (not a DVC output).
RESUME_ROOT = Path("data/.resume")

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
        # The library does not know DVC: the hint on how to build a missing input is added here.
        hint = " `dvc repro` runs the stages that write it." if isinstance(error, MissingInput) else ""
        click.echo(f"error: {error}{hint}", err=True)
        sys.exit(2)
    except (MemoryError, RuntimeError) as error:
        if not _is_out_of_memory(error):
            raise
        # Python's own MemoryError usually has no message at all.
        detail = str(error).strip().splitlines()
        cause = f" ({detail[0][:200]})" if detail else ""
        click.echo(f"error: out of memory{cause}. To fit, {OUT_OF_MEMORY_ADVICE}", err=True)
        sys.exit(3)

