"""The lock files: complete for pyproject.toml's dependencies, and what this environment runs."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]


def pinned(name: str) -> dict[str, str]:
    """{normalised package name: version} from requirements/<name>.txt."""
    pins = {}
    for line in (REPO / "requirements" / f"{name}.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            package, version = line.split("==")
            pins[normalise(package)] = version
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalise(re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0])


def test_every_dependency_is_pinned_exactly_once():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    run, test = pinned("run"), pinned("test")
    assert not set(run) & set(test), "a package pinned in both lock files"
    for requirement in project["dependencies"]:
        name = requirement_name(requirement)
        assert name == "torch" or name in run, f"{name} (pyproject.toml) is not in requirements/run.txt: run `make lock`"
    # The ray extra is locked with the tests (tests/test_ray.py runs it); `make lock` installs both.
    for extra in ("test", "ray"):
        for requirement in project["optional-dependencies"][extra]:
            name = requirement_name(requirement)
            assert name in run or name in test, f"{name} ({extra} extra) is not locked: run `make lock`"
    assert "torch" not in run and "torch" not in test  # installed first, for the machine


@pytest.mark.parametrize("lock", ["run", "test"])
def test_this_environment_is_the_locked_one(lock):
    """`make setup` installs exactly the pinned versions; a drifted environment would make other bytes."""
    drifted = {}
    for name, version in pinned(lock).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            drifted[name] = (version, installed)
    assert not drifted, f"installed versions differ from requirements/{lock}.txt (pinned, installed): {drifted}"
