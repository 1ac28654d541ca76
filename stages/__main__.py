"""`python -m stages`: the pipeline's command line outside `dvc repro`.

Run any stage by hand (`python -m stages generate --round r1 --model models/r0`), check a data
file against its schema, print the per-round results, or recompose params.yaml from conf/.
"""

from __future__ import annotations

import sys
from pathlib import Path

import importlib

import click

from stages.common import run
from think_prune_train.artifacts import SCHEMAS, DataContractError, read_frame
from think_prune_train.inputs import MAX_PARAMS_BYTES, InputFileError, check_yaml_structure, parse_yaml, read_bounded
from think_prune_train.params import ParamsError, check_all, check_top_level, load_params


# The stages' own commands, each imported when it is called: train and select_teacher import
# transformers and TRL (6 s), which the other commands do not need. export is not a DVC stage.
STAGE_COMMANDS = ("prepare", "base", "generate", "prune", "accumulate", "train", "evaluate", "report", "summary",
                  "select_teacher", "export")


class Commands(click.Group):
    """The tools below, and the stage modules' `main` commands imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *STAGE_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in STAGE_COMMANDS:
            return importlib.import_module(f"stages.{name}").main
        return super().get_command(ctx, name)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """think-prune-train: stages and tools. `dvc repro` runs the stages for you."""


@cli.command()
@click.argument("kind", type=click.Choice(sorted(SCHEMAS)))
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(kind: str, files: tuple[str, ...]) -> None:
    """Check parquet FILES against the KIND schema; exit 1 listing every failure."""
    failed = False
    for file in files:
        try:
            frame = read_frame(file, SCHEMAS[kind])
            click.echo(f"{file}: ok ({len(frame)} rows, {kind})")
        except DataContractError as error:
            click.echo(str(error), err=True)
            failed = True
    sys.exit(1 if failed else 0)


@cli.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True)
@click.option("--format", "style", type=click.Choice(["markdown", "csv"]), default="markdown", show_default=True)
def results(params_file: str, style: str) -> None:
    """Print Pass@1, greedy accuracy and kept traces per round."""
    from think_prune_train.reporting.tables import results_table, to_markdown

    table = results_table(load_params(params_file)["evaluated"], "evaluations", "data/pruned", "data/train_logs")
    click.echo(to_markdown(table) if style == "markdown" else table.to_csv(index=False), nl=False)


@cli.command()
@click.option("--folder", default="reports/teachers", show_default=True, help="Where select_teacher writes its trials.")
def teachers(folder: str) -> None:
    """Rank the candidate teachers tried so far by their trial student's Pass@1."""
    import json

    from think_prune_train.reporting.teachers import ranking

    trials = [json.loads(path.read_text()) for path in sorted(Path(folder).glob("*.json"))]
    if not trials:
        raise click.ClickException(
            f"no trials in {folder}: add candidates under teacher_selection.candidates and run `dvc repro`."
        )
    click.echo(ranking(trials), nl=False)


@cli.command()
@click.argument("overrides", nargs=-1)
@click.option("--out", default="params.yaml", show_default=True, help="Where to write the composed parameters.")
def params(overrides: tuple[str, ...], out: str) -> None:
    """Compose conf/ (plus Hydra OVERRIDES such as rounds=5) into params.yaml for `dvc repro`.

    `dvc exp run -S ...` does this itself; use this before a plain `dvc repro`.
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    # What `dvc exp run` loads from the repository root before it composes: the params schema and
    # the resolvers that unroll rounds.
    import hydra_plugins.think_prune_train_resolvers  # noqa: F401

    # Hydra expands anchors and aliases while it reads: a "billion laughs" file in conf/ would run
    # out of memory before any check. Every file Hydra may read is scanned first (linear, no expansion).
    for file in sorted(Path("conf").rglob("*.yaml")):
        try:
            check_yaml_structure(read_bounded(file, MAX_PARAMS_BYTES, "config file").decode("utf-8"), str(file))
        except UnicodeDecodeError as error:
            raise ParamsError(f"{file}: not UTF-8 text (byte {error.start}); save it as UTF-8.") from None
        except InputFileError as error:
            raise ParamsError(str(error)) from None
    try:
        with initialize_config_dir(config_dir=str(Path("conf").resolve()), version_base=None):
            config = compose(config_name="config", overrides=list(overrides))
        OmegaConf.resolve(config)
    except (HydraException, OmegaConfBaseException, ValueError) as error:
        # ValueError: Hydra's override parser turns digits into an int with no limit on their number.
        reason = str(error).split("\nConfig search path")[0]
        if error.__cause__ is not None:  # Hydra's "Error merging override" says why only in its cause
            reason += ": " + str(error.__cause__).strip().splitlines()[0]
        shown_overrides = " ".join(item if len(item) <= 80 else f"{item[:80]}..." for item in overrides)
        raise ParamsError(
            f"cannot compose conf/ with {shown_overrides or 'no overrides'}: {_cut_long_words(reason)}"
        ) from None
    text = OmegaConf.to_yaml(config)
    try:  # what the stages and DVC will read from the file written, checked before it is written
        composition = parse_yaml(text, f"{out} (composed from conf/)")
    except InputFileError as error:
        raise ParamsError(str(error)) from None
    check_top_level(composition, "conf/ with these overrides")
    check_all(composition)  # nothing is written unless every key is valid
    Path(out).write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}")


def _cut_long_words(text: str, limit: int = 80) -> str:
    """Hydra repeats the whole override in its messages: cut any run of characters without a space."""
    return " ".join(word if len(word) <= limit else f"{word[:limit]}..." for word in text.split(" "))


@cli.command(name="check-params")
@click.argument("params_file", default="params.yaml")
def check_params(params_file: str) -> None:
    """Read PARAMS_FILE as the stages and DVC do and check every key; exit 2 naming the file and line or key.

    DVC reads params.yaml with no limit of its own (a "billion laughs" file exhausts its memory):
    run this on a params.yaml you did not write before `dvc status` or `dvc repro`.
    """
    check_all(load_params(params_file))
    click.echo(f"{params_file}: ok")


@cli.command()
@click.argument("prefix", required=False, default="")
def keys(prefix: str) -> None:
    """List every params key (or those starting with PREFIX, e.g. `train`) with its default and help.

    The list comes from the schema in think_prune_train/params.py, the one place defaults live.
    """
    from think_prune_train.params import describe

    rows = [row for row in describe() if row[0].startswith(prefix)]
    if not rows:
        raise ParamsError(f"no params key starts with {prefix!r}; run `python -m stages keys` for all of them")
    width = max(len(key) for key, _, _ in rows)
    for key, default, text in rows:
        click.echo(f"{key:<{width}}  {default}" + (f"\n{'':<{width}}  {text}" if text else ""))


@cli.command()
def verify() -> None:
    """Rehash every DVC cache object that dvc.lock's outputs need; exit 1 naming each one that is
    corrupt or missing.

    DVC trusts a read-only cache file without rehashing it, so bytes flipped on disk (with the
    mtime kept) would be checked out and used silently. Run this after copying a cache by hand,
    after a disk error, or before an important comparison; `dvc pull` or `dvc repro` of the named
    stage replaces a bad object once it is deleted.
    """
    import hashlib
    import json

    from dvc.repo import Repo

    repo = Repo(".")
    cache = Path(repo.cache.local.path)

    def object_file(oid: str) -> Path:
        return cache / oid[:2] / oid[2:]

    def problem(oid: str) -> str | None:
        path = object_file(oid)
        if not path.is_file():
            return f"{path} is missing (dvc pull, or dvc repro the stage)"
        digest = hashlib.md5()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != oid.removesuffix(".dir"):
            return f"{path} does not hash to its name: corrupt (delete it, then dvc pull or dvc repro --force the stage)"
        return None

    bad, checked = [], 0
    for out in repo.index.outs:
        if not out.use_cache or out.hash_info is None or not out.hash_info.value:
            continue  # small files kept in git, or an output not produced yet
        oid = out.hash_info.value
        found = problem(oid)
        checked += 1
        if found is None and oid.endswith(".dir"):
            for entry in json.loads(object_file(oid).read_text()):
                checked += 1
                inner = problem(entry["md5"])
                if inner:
                    bad.append(f"{out.def_path}/{entry['relpath']}: {inner}")
        elif found:
            bad.append(f"{out.def_path}: {found}")
    for line in bad:
        click.echo(f"corrupt: {line}", err=True)
    click.echo(f"verify: {checked} cache objects rehashed, {len(bad)} bad")
    sys.exit(1 if bad else 0)


@cli.command()
@click.argument("revisions", nargs=-1)
@click.option("--out", default="dvc_plots", show_default=True, help="Folder for the page (index.html).")
def plots(revisions: tuple[str, ...], out: str) -> None:
    """Write the plots page, drawn without the network: accuracy by round and every round's training curves.

    With no REVISIONS, `dvc plots show` of the workspace; with some (commits, branches, experiment
    names), `dvc plots diff REVISIONS`, their curves overlaid. The page inlines vega, vega-lite and
    vega-embed (vl-convert-python's copies), where DVC's own page loads them from a CDN.
    """
    import subprocess
    import tempfile

    from think_prune_train.reporting.page import offline_template

    command = ["plots", "diff", *revisions] if revisions else ["plots", "show"]
    with tempfile.TemporaryDirectory() as folder:
        template = Path(folder) / "offline.html"
        template.write_text(offline_template(), encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "dvc", *command, "--html-template", str(template), "-o", out])
    if done.returncode != 0:
        raise click.ClickException(f"dvc {' '.join(command)} failed (exit {done.returncode}); its message is above.")
    click.echo(f"plots: {Path(out) / 'index.html'} (opens without the network)")


if __name__ == "__main__":
    run(cli)
