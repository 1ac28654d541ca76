"""export: one round's model and every round's kept traces as Hugging Face folders, with their cards.

Not a DVC stage: it reads what the pipeline wrote and runs no model. It reads `params.yaml`,
`dvc.lock`, `models/<round>`, `data/pruned/r1..<round>.parquet` (and their `-stats.json`),
`reports/metrics.json` and `reports/rounds.csv`, and writes into `--to`:

- `model/`: a copy of `models/<round>` and its model card `README.md`;
- `data/`: the kept traces, one split per round (`data/<round>-00000-of-00001.parquet`), and the
  data set card `README.md` whose `configs` header maps the splits to the files.

Every file and folder whose hash a card gives is first checked against `dvc.lock`, so the cards
describe the bytes exported. Everything is written into a temporary folder beside `--to` and
renamed at the end: an error or a kill never leaves a half-written export. `--push-to-hub REPO`
then uploads the model to REPO and the traces to REPO-traces.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import click
import pandas as pd

from stages.common import round_option, run
from stages.paths import WRITABLE
from think_prune_train.artifacts import Pruned, read_frame
from think_prune_train.inputs import InputFileError, read_yaml
from think_prune_train.params import load_params
from think_prune_train.reporting.cards import Provenance, dataset_card, model_card, objective_for, trace_rounds
from think_prune_train.schedule import round_index

PARAMS = Path("params.yaml")
LOCK = Path("dvc.lock")
METRICS = Path("reports/metrics.json")
TABLE = Path("reports/rounds.csv")
PROBLEMS = "data/problems"
# What an earlier export holds: the only folder --force replaces.
EXPORT_ENTRIES = {"model", "data"}
# Folders of the repository the export must not go into: DVC's outputs and its and git's own.
PROTECTED = (*WRITABLE, ".dvc", ".git")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locked_hashes() -> dict[str, str]:
    """Every output path in dvc.lock with its md5."""
    if not LOCK.exists():
        raise click.ClickException(f"{LOCK} is missing: run `dvc repro` first (export reads what it recorded).")
    try:
        lock = read_yaml(LOCK, "DVC lock file") or {}
    except InputFileError as error:
        raise click.ClickException(str(error)) from None
    return {out["path"]: out["md5"] for stage in (lock.get("stages") or {}).values() for out in stage.get("outs", [])
            if out.get("md5")}


def difference(path: Path, md5: str, cache: Path) -> str | None:
    """Why `path` on disk is not what dvc.lock recorded as `md5`, or None when it is."""
    if not md5.endswith(".dir"):
        return None if path.is_file() and file_md5(path) == md5 else "its content differs"
    listing = cache / md5[:2] / md5[2:]
    if not listing.is_file():
        return f"the DVC cache has no listing {listing} to check it against (`dvc fetch` brings it)"
    expected = {entry["relpath"]: entry["md5"] for entry in json.loads(listing.read_text())}
    found = {file.relative_to(path).as_posix(): file for file in path.rglob("*") if file.is_file()}
    for name in sorted(expected.keys() | found.keys()):
        if name not in found:
            return f"{name} is missing"
        if name not in expected:
            return f"{name} is not in dvc.lock's version"
        if file_md5(found[name]) != expected[name]:
            return f"{name} differs"
    return None


def checked_hashes(paths: list[str]) -> dict[str, str]:
    """dvc.lock's md5 of each path, once the path on disk is known to be that version."""
    from dvc.repo import Repo

    locked = locked_hashes()
    cache = Path(Repo(".").cache.local.path)
    hashes = {}
    for path in paths:
        if path not in locked:
            raise click.ClickException(f"{path} is not an output in {LOCK}: run `dvc repro` (params.yaml asks for "
                                       f"rounds the lock has not recorded yet).")
        if not Path(path).exists():
            raise click.ClickException(f"{path} is missing: `dvc pull` fetches it from the DVC remote, "
                                       f"`dvc checkout` from the local cache, or `dvc repro` rebuilds it.")
        why = difference(Path(path), locked[path], cache)
        if why:
            raise click.ClickException(f"{path} is not the version {LOCK} records ({why}): `dvc checkout {path}` "
                                       f"restores it, or `dvc repro` records the new one.")
        hashes[path] = locked[path]
    return hashes


def git_state() -> tuple[str | None, bool]:
    """(HEAD's commit, whether the working tree has uncommitted changes); (None, False) outside git."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    if head.returncode != 0:
        return None, False
    status = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=False)
    return head.stdout.strip(), bool(status.stdout.strip())


def read_json(path: Path) -> dict:
    if not path.exists():
        raise click.ClickException(f"{path} is missing: `dvc repro` writes it (the summary stage).")
    return json.loads(path.read_text())


def check_target(to: str, force: bool) -> Path:
    """`--to` as an absolute path, once it is known not to overwrite anything that is not an earlier export."""
    target = Path(os.path.abspath(to))
    root = Path.cwd().resolve()
    resolved = target.resolve()
    for folder in PROTECTED:
        if resolved == root / folder or (root / folder) in resolved.parents:
            raise click.BadParameter(f"{to!r} is inside {folder}/, which DVC or git manage; export somewhere else "
                                     f"(e.g. export/ or a folder outside the repository).", param_hint="--to")
    if resolved == root or resolved in root.parents:
        raise click.BadParameter(f"{to!r} is the repository or a folder that holds it; name a new folder.",
                                 param_hint="--to")
    if target.exists() or target.is_symlink():
        if not target.is_dir() or target.is_symlink():
            raise click.BadParameter(f"{to!r} exists and is not a folder; name a new folder.", param_hint="--to")
        entries = {entry.name for entry in target.iterdir()}
        if entries and not force:
            raise click.BadParameter(f"{to!r} exists and is not empty; name a new folder, or add --force to replace "
                                     f"an earlier export there.", param_hint="--to")
        if entries - EXPORT_ENTRIES:
            raise click.BadParameter(
                f"{to!r} holds {', '.join(sorted(entries - EXPORT_ENTRIES))}, which no export writes: --force replaces "
                f"only an earlier export (model/ and data/); move those files or name a new folder.", param_hint="--to")
    return target


def hub_token(repo: str) -> str:
    """The Hugging Face token to push with; a clear error when pushing cannot work."""
    from huggingface_hub import constants, get_token

    if not HUB_ID.fullmatch(repo):
        raise click.BadParameter(f"{repo!r} is not a hub repository id like `user/name`.", param_hint="--push-to-hub")
    token = get_token()
    if not token:
        raise click.ClickException("--push-to-hub needs a Hugging Face token with write access: `hf auth login`, "
                                   "or set HF_TOKEN.")
    if constants.HF_HUB_OFFLINE:
        raise click.ClickException("--push-to-hub needs the network, but HF_HUB_OFFLINE is set: unset it to push.")
    return token


def push(target: Path, repo: str, round_: str, token: str) -> None:
    """Upload the model folder to `repo` and the traces to `repo`-traces (each created if need be)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    destinations = ((target / "model", repo, "model"), (target / "data", f"{repo}-traces", "dataset"))
    for folder, repo_id, repo_type in destinations:
        try:
            api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
            commit = api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type=repo_type,
                                       commit_message=f"think-prune-train export of {round_}")
        except (HfHubHTTPError, OSError) as error:
            raise click.ClickException(
                f"pushing {folder} to the {repo_type} repository {repo_id} failed ({error}); the export in {target} "
                f"is complete: rerun with --force to push again.") from None
        click.echo(f"export: pushed {folder} -> {commit.commit_url}")


def write_export(target: Path, build) -> None:
    """Call `build(folder)` on a new folder beside `target`, then put it in `target`'s place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's folder is private; an export is an ordinary folder
    previous = target.parent / f"{staging.name}.previous"
    try:
        build(staging)
        if target.exists():  # an earlier export (check_target made sure): kept until the new one is in place
            os.replace(target, previous)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if previous.exists() and not target.exists():
            os.replace(previous, target)
        raise
    shutil.rmtree(previous, ignore_errors=True)


@click.command()
@click.option("--round", "round_", required=True, callback=round_option, help="The round to export, e.g. r3.")
@click.option("--to", required=True, help="A new folder for the export (model/ and data/ inside).")
@click.option("--force", is_flag=True, help="Replace an earlier export in --to (a folder of only model/ and data/).")
@click.option("--push-to-hub", "repo", default=None, help="Also upload: the model to REPO, the traces to REPO-traces.")
def main(round_: str, to: str, force: bool, repo: str | None) -> None:
    """Export a round's model and the kept traces of rounds r1..ROUND with Hugging Face cards.

    Reads only what `dvc repro` wrote; run it from the repository root.
    """
    params = load_params(PARAMS)
    if round_ not in params["evaluated"]:
        raise click.BadParameter(f"{round_} is not a round of this run (params.yaml `evaluated`: "
                                 f"{', '.join(params['evaluated'])}); raise `rounds` and `dvc repro` to make it.",
                                 param_hint="--round")
    if round_index(round_) == 0:
        raise click.BadParameter("r0 is the base model, trained on no kept traces: export r1 or a later round.",
                                 param_hint="--round")
    metrics = read_json(METRICS)
    if round_ not in metrics.get("by_round", {}):
        raise click.ClickException(f"{METRICS} has no result for {round_} (by_round has "
                                   f"{', '.join(metrics.get('by_round', {})) or 'none'}): `dvc repro` evaluates it.")
    if not TABLE.exists():
        raise click.ClickException(f"{TABLE} is missing: `dvc repro` writes it (the summary stage).")
    table = pd.read_csv(TABLE)
    target = check_target(to, force)
    token = hub_token(repo) if repo else None

    rounds = trace_rounds(round_)
    pruned = [f"data/pruned/{name}.parquet" for name in rounds]
    pairs = [f"data/pairs/{name}.parquet" for name in rounds if objective_for(params, name) != "sft"]  # DPO rounds
    commit, dirty = git_state()  # before anything is written: an export inside the repository is no change of it
    model_hashes = checked_hashes([f"models/{round_}", *pruned, *pairs, PROBLEMS])
    data_hashes = {path: model_hashes[path] for path in [*pruned, PROBLEMS]}
    frames = {name: read_frame(f"data/pruned/{name}.parquet", Pruned) for name in rounds}
    rows = {name: len(frame) for name, frame in frames.items()}
    stats = {name: json.loads(Path(f"data/pruned/{name}-stats.json").read_text()) for name in rounds
             if Path(f"data/pruned/{name}-stats.json").exists()}
    source = params["base"]["source"]
    base_model = source if HUB_ID.fullmatch(source) and not Path(source).exists() else None
    traces_repo = f"{repo}-traces" if repo else None

    def build(folder: Path) -> None:
        shutil.copytree(f"models/{round_}", folder / "model", copy_function=shutil.copyfile)
        card = model_card(round_, params, metrics, table, rows, Provenance(commit, dirty, model_hashes), base_model,
                          traces_repo)
        (folder / "model" / "README.md").write_text(card, encoding="utf-8")
        (folder / "data" / "data").mkdir(parents=True)
        for name, frame in frames.items():
            frame.to_parquet(folder / "data" / "data" / f"{name}-00000-of-00001.parquet", index=False,
                             compression="zstd")
        card = dataset_card(round_, params, rows, stats, Provenance(commit, dirty, data_hashes), repo)
        (folder / "data" / "README.md").write_text(card, encoding="utf-8")

    write_export(target, build)
    click.echo(f"export: models/{round_} -> {target / 'model'}; kept traces of {', '.join(rounds)} "
               f"({sum(rows.values())} rows) -> {target / 'data'}")
    if repo:
        push(target, repo, round_, token)


if __name__ == "__main__":
    run(main)
