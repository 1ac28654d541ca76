"""Reproducible to the byte: the same params give the same outputs; another seed gives other outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import DVC, locked_outputs, new_project, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def second_run(reference_project, tmp_path_factory) -> Path:
    project = new_project(tmp_path_factory.mktemp("second") / "repo")
    run(DVC + ["repro"], project)
    return project


def test_two_fresh_runs_give_identical_bytes(reference_project, second_run):
    first, second = locked_outputs(reference_project), locked_outputs(second_run)
    assert set(first) >= {"data/problems", "models/r0", "data/generated/r1.parquet", "models/r1", "evaluations/r1/rows.parquet"}
    assert second == first
    for name in ("rounds.csv", "rounds.md", "metrics.json", "pass_at_1.png"):  # git-tracked, outside the cache
        assert (second_run / "reports/r1" / name).read_bytes() == (reference_project / "reports/r1" / name).read_bytes()


def test_changing_only_the_seed_changes_every_dataset_and_checkpoint(reference_project, second_run):
    run(DVC + ["exp", "run", "-S", "seed=1"], second_run)
    before, after = locked_outputs(reference_project), locked_outputs(second_run)
    assert after.keys() == before.keys()
    # Every dataset and checkpoint; small summaries (counts in *.json, the report) can coincide.
    # A sampled round's tree file has no rows (generate.method: sample), the same bytes for any seed.
    data = [path for path in before if not path.startswith("reports/") and not path.endswith((".json", "-tree.parquet"))]
    assert len(data) >= 7
    assert [path for path in data if after[path] == before[path]] == []
