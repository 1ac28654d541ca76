"""Model checkpoints: plain Hugging Face folders of safetensors, written whole and read safely.

Generation loads the model it samples from and training loads and saves the models it trains;
both go through here. A checkpoint is written into a temporary folder and moved into place, so a
crash never leaves half a model; it is read from safetensors only, never from a pickle file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from think_prune_train import failpoints
from think_prune_train.errors import MissingInput


def save_model(model, tokenizer, destination: str | Path) -> None:
    """Write safetensors + tokenizer into a temporary folder, then move it into place whole."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    for leftover in destination.parent.glob(f".{destination.name}.*"):  # from an earlier run that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}."))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        staging.chmod(0o755)  # mkdtemp makes it private; a checkpoint is an ordinary folder
        failpoints.reached("save_model.before_replace")
        if destination.is_symlink() or destination.is_file():  # a link is replaced, never followed
            destination.unlink()
        elif destination.exists():
            shutil.rmtree(destination)
        os.replace(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def check_model_source(path: str | Path, allow_hub: bool = False) -> None:
    """Fail early, naming the path, when `path` is not a safetensors model folder (nor, with `allow_hub`, a hub id).

    Checkpoints load from safetensors only: a pickle file (`pytorch_model.bin`) can run code when
    it is loaded, so a folder that has only those is refused rather than unpickled.
    """
    local = Path(path)
    if local.exists() or not allow_hub:
        if not (local / "config.json").exists():
            raise MissingInput(f"{local} is not a model folder (no config.json).")
        if not any(local.glob("*.safetensors")):
            raise MissingInput(
                f"{local} has no .safetensors weights; checkpoints are loaded from safetensors only, since pickle "
                f"files (*.bin, *.pt) can run code when loaded. Convert it once where you trust it: "
                f"AutoModelForCausalLM.from_pretrained(folder).save_pretrained(folder, safe_serialization=True)."
            )
        return
    if str(path).startswith((".", "/")) or str(path).count("/") != 1:
        raise MissingInput(
            f"model {str(path)!r} not found: it is neither a local folder nor a hub id of the form owner/name."
        )


def load_model(path: str | Path, trust_remote_code: bool = False, allow_hub: bool = False):
    """Load a checkpoint (a folder, or a hub id with `allow_hub`) for training: safetensors only, fp32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_model_source(path, allow_hub)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(
        path, use_safetensors=True, trust_remote_code=trust_remote_code, dtype=torch.float32
    )
    return model, tokenizer
