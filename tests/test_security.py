"""Security: data and model outputs are never run as code; model code and pickles are never loaded."""

from __future__ import annotations

import ast
import json
import pickle
import re
import shutil
import subprocess
import sys
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


# What ruff's security rules (the flake8-bandit set) check in the library, the stages, the Hydra plugin and the
# programs the sandbox runs: exec (S102), eval (S307), unpickling (S301), a shell (S602).
SECURITY_RULES = "S102,S307,S301,S602"
# Builtins that run or build code from text. Naming one at all counts, not only calling it: an alias
# (`run = exec`) would hide the call from ruff. The only reviewed uses are in the sandbox's programs,
# each line marked with a noqa comment for S102 and its reason.
CODE_RUNNERS = {"exec", "eval", "compile", "__import__"}


def python_sources(folder: Path) -> list[Path]:
    """Every Python file the pipeline runs: the library, the stages, the Hydra plugin, and the sandbox's
    launcher and wrapper and the judge's runner and judge (strings in sandbox.py and judge.py) written
    out as files into `folder`."""
    from think_prune_train.verify import judge, sandbox

    programs = {"launcher": sandbox.LAUNCHER, "wrapper": sandbox.WRAPPER % {"mark": b"mark "},
                "runner": judge.RUNNER, "judge": judge.JUDGE}
    for name, text in programs.items():
        (folder / f"sandbox_{name}.py").write_text(text)
    return [*(REPO / "src").rglob("*.py"), *(REPO / "stages").rglob("*.py"), *(REPO / "hydra_plugins").rglob("*.py"),
            *sorted(folder.glob("sandbox_*.py"))]


def ruff_findings(paths: list[Path]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", SECURITY_RULES,
         "--output-format", "json", *map(str, paths)], capture_output=True, text=True, check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return [f"{Path(item['filename']).name}:{item['location']['row']} {item['code']}" for item in json.loads(result.stdout)]


def unreviewed_code_runners(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    names = sorted((node.lineno, node.id) for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.Name) and node.id in CODE_RUNNERS)
    return [f"{path.name}:{line} {name}" for line, name in names if "# noqa: S102" not in lines[line - 1]]


def test_nothing_runs_text_as_code_unpickles_or_shells_out(tmp_path):
    sources = python_sources(tmp_path)
    assert ruff_findings(sources) == []
    assert [finding for path in sources for finding in unreviewed_code_runners(path)] == []


def test_the_source_checks_catch_what_they_look_for(tmp_path):
    """Each check finds a planted offence, so the test above can fail for the reason it states."""
    planted = tmp_path / "planted.py"
    planted.write_text("import pickle, subprocess\n\n\ndef f(text, data):\n    exec(text)\n    eval(text)\n"
                       "    pickle.loads(data)\n    subprocess.run(text, shell=True)\n    run = exec\n    run(text)\n")
    assert ruff_findings([planted]) == ["planted.py:5 S102", "planted.py:6 S307", "planted.py:7 S301", "planted.py:8 S602"]
    assert unreviewed_code_runners(planted) == ["planted.py:5 exec", "planted.py:6 eval", "planted.py:9 exec"]


FORBIDDEN = {
    r"import pickle": "pickle",
    r"torch\.load\(": "torch.load",
    r"trust_remote_code\s*=\s*True": "trust_remote_code=True",
}


@pytest.mark.parametrize("pattern, what", FORBIDDEN.items())
def test_the_code_never_loads_pickles_nor_remote_code(pattern, what):
    sources = [*(REPO / "src").rglob("*.py"), *(REPO / "stages").rglob("*.py"), *(REPO / "hydra_plugins").rglob("*.py")]
    offenders = [f"{path.relative_to(REPO)}:{n}" for path in sources
                 for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(pattern, line)]
    assert offenders == [], f"{what} found in {offenders}"
