"""Security: data and model outputs are never run as code; model code and pickles are never loaded."""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import pytest
import yaml
from support import REPO

from think_prune_train.checkpoints import load_model
from think_prune_train.generation.backends import load_backend


class _Touch:
    """Unpickling this creates a file: proof that a pickle was loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_model_code_in_a_checkpoint_is_not_run(tiny_model_dir, tmp_path):
    folder = tmp_path / "custom"
    shutil.copytree(tiny_model_dir, folder)
    marker = tmp_path / "EXECUTED"
    (folder / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
        "from transformers import LlamaConfig as EvilConfig, LlamaForCausalLM as EvilModel\n"
    )
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    model, _ = load_model(folder)
    load_backend("transformers", str(folder))
    assert type(model).__name__ == "LlamaForCausalLM"  # the standard class, not the file's
    assert not marker.exists()


def test_pickle_checkpoints_are_refused_not_unpickled(tiny_model_dir, tmp_path):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "UNPICKLED"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Touch(marker)))
    for load in (lambda: load_model(folder), lambda: load_backend("transformers", str(folder))):
        with pytest.raises(FileNotFoundError, match="safetensors only"):
            load()
    assert not marker.exists()


def test_remote_code_is_off_unless_asked_for():
    assert yaml.safe_load((REPO / "params.yaml").read_text())["base"]["trust_remote_code"] is False
    from think_prune_train.params import BaseParams, TeacherParams

    assert BaseParams().trust_remote_code is False and TeacherParams().trust_remote_code is False  # the schema's defaults
    assert not any("trust_remote_code" in path.read_text() for path in (REPO / "conf").rglob("*.yaml"))  # nothing turns it on


FORBIDDEN = {
    r"(?<![\w.])eval\(": "eval()",
    r"(?<![\w.])exec\(": "exec()",
    r"import pickle|pickle\.loads?\(": "pickle",
    r"torch\.load\(": "torch.load",
    r"trust_remote_code\s*=\s*True": "trust_remote_code=True",
    r"shell\s*=\s*True": "a shell",
}


@pytest.mark.parametrize("pattern, what", FORBIDDEN.items())
def test_the_code_never_evaluates_unpickles_or_shells_out(pattern, what):
    sources = [*(REPO / "src").rglob("*.py"), *(REPO / "stages").rglob("*.py"), *(REPO / "hydra_plugins").rglob("*.py")]
    offenders = [f"{path.relative_to(REPO)}:{n}" for path in sources
                 for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(pattern, line)]
    assert offenders == [], f"{what} found in {offenders}"
