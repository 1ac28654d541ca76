"""What every stage entry point shares: turning user-facing errors into one clear line."""

from __future__ import annotations

import sys

import click

from think_prune_train.artifacts import DataContractError
from think_prune_train.params import ParamsError
from think_prune_train.tasks import TaskError

# Errors caused by input or configuration: print the message (it names the file, row or key
# and what to do) instead of a traceback.
USER_ERRORS = (ParamsError, DataContractError, TaskError, FileNotFoundError)


def run(command: click.Command) -> None:
    try:
        command.main()
    except USER_ERRORS as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
