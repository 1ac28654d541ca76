"""The library's layers and the stages' dependencies, checked from the source (quick tier).

- import-linter's contracts in pyproject.toml: the subpackages sit in layers above a few shared
  modules, nothing imports upwards, and generation, selection and training import none of each other;
- each stage's `deps` in dvc.yaml list exactly the library modules the stage imports (directly or
  through another module, at the top of a file or inside a function), so an edit reruns the stages
  it can change and no others: a folder stands for every module in it.

`python tests/test_layers.py` prints the deps each stage needs.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "src"
PACKAGES = ("think_prune_train", "stages")


def module_file(name: str) -> Path | None:
    """The file of a module of this repository (the library or the stages), or None."""
    if name.split(".")[0] not in PACKAGES:
        return None
    root = LIBRARY if name.startswith("think_prune_train") else REPO
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def with_parents(name: str) -> list[str]:
    """Importing `a.b.c` runs `a/__init__` and `a/b/__init__` first."""
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


@cache
def direct_imports(name: str) -> frozenset[str]:
    """The repository's modules that module `name` imports anywhere in its source."""
    tree = ast.parse(module_file(name).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` imports the module; `from module import name` only the module.
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            found.update(module for module in with_parents(target) if module_file(module) is not None)
    return frozenset(found)


def imported_modules(name: str) -> set[str]:
    """`name` and every repository module it imports, transitively."""
    seen, todo = set(), [*with_parents(name)]
    while todo:
        module = todo.pop()
        if module in seen or module_file(module) is None:
            continue
        seen.add(module)
        todo.extend(direct_imports(module))
    return seen


def needed_files(stage_module: str) -> set[str]:
    """Repository-relative paths of every source file a stage's code runs from."""
    return {module_file(module).relative_to(REPO).as_posix() for module in imported_modules(stage_module)}


def library_files() -> set[str]:
    return {path.relative_to(REPO).as_posix() for path in (LIBRARY / "think_prune_train").rglob("*.py")}


def compressed(files: set[str]) -> list[str]:
    """`files` with every folder whose Python files are all in it written as the folder."""
    every = library_files() | {path.relative_to(REPO).as_posix() for path in (REPO / "stages").glob("*.py")}
    folders = sorted({str(Path(path).parent) for path in every if path.startswith("src/")}, key=len)
    result = set(files)
    for folder in folders:
        inside = {path for path in every if path.startswith(folder + "/")}
        if inside and inside <= files and not any(folder.startswith(chosen + "/") for chosen in result):
            result = {path for path in result if not path.startswith(folder + "/")} | {folder}
    return sorted(result)


def stage_modules() -> dict[str, tuple[str, list[str]]]:
    """Each stage of dvc.yaml: (the stages module its command runs, its deps)."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    found = {}
    for name, stage in stages.items():
        body = stage.get("do", stage)
        module = next(word for word in body["cmd"].split() if word.startswith("stages."))
        # Data, models and reports, and the per-round files named through `${item...}`, are not code.
        found[name] = (module, [dep for dep in body["deps"] if not dep.startswith(("data/", "models/", "reports/",
                                                                                     "evaluations/", "${"))])
    return found


def covered(path: str, deps: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def test_each_stage_depends_on_exactly_the_code_it_imports():
    problems = []
    for name, (module, deps) in stage_modules().items():
        needed = needed_files(module)
        for path in sorted(needed):
            if not covered(path, deps):
                problems.append(f"{name}: imports {path}, which its deps do not list")
        for dep in deps:
            files = {path for path in library_files() | needed if covered(path, [dep])}
            if not files:
                problems.append(f"{name}: dep {dep} is no source file or folder of this repository")
            elif not files <= needed:
                unused = ", ".join(sorted(files - needed))
                problems.append(f"{name}: dep {dep} covers code the stage never imports ({unused})")
    assert not problems, "\n".join(problems) + "\n(`python tests/test_layers.py` prints what each stage needs)"


def test_the_dependency_check_sees_imports_inside_functions():
    """A lazy import counts: it runs when the function does."""
    assert "src/think_prune_train/generation/backends/ray_pool.py" in needed_files("stages.generate")
    assert "src/think_prune_train/verify/sandbox.py" in needed_files("stages.evaluate")
    # ... and prepare, which reads answer formats but grades nothing, does not depend on the sandbox.
    assert "src/think_prune_train/verify/sandbox.py" not in needed_files("stages.prepare")


def test_import_contracts_hold():
    """import-linter's layers and independence contracts (pyproject.toml): an upward import fails here."""
    command = Path(sys.executable).parent / "lint-imports"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(LIBRARY), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([str(command), "--no-cache"], cwd=REPO, capture_output=True, text=True, env=environment,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout



def test_params_import_no_implementation():
    """Composing params.yaml (Hydra, `python -m stages params`) loads the settings' schema, not torch or
    transformers: the allowed values live in params, and the implementations check against them."""
    code = "import sys, think_prune_train.params; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
           "('torch', 'transformers', 'trl') or m.startswith('think_prune_train.') and m.count('.') > 1))"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(LIBRARY), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True)
    assert result.stdout.strip() == "[]", result.stdout



def test_the_readme_layout_names_every_module():
    """The README's layout section is the tree: every subpackage and module of the library, every stage module."""
    readme = (REPO / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    names = {f"{path.name}/" for path in (LIBRARY / "think_prune_train").iterdir() if path.is_dir()
             and (path / "__init__.py").exists()}
    names |= {path.stem for path in (LIBRARY / "think_prune_train").rglob("*.py") if path.stem != "__init__"}
    names |= {path.name for path in (REPO / "stages").glob("*.py") if path.stem not in ("__init__", "__main__")
              and not (REPO / "dvc.yaml").read_text().count(f"stages.{path.stem} ")}
    missing = sorted(name for name in names if name not in layout)
    assert not missing, f"README layout does not name: {missing}"


if __name__ == "__main__":
    for stage, (module, _) in stage_modules().items():
        print(f"{stage}:")
        for path in compressed(needed_files(module)):
            print(f"  - {path}")
