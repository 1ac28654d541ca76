import dataclasses

import pandas as pd
import pytest
import torch

from think_prune_train.params import LoraParams, TrainParams
from think_prune_train.preference import dpo, sequence_logprob, step_log
from think_prune_train.training import load_model, trainer_config

PAIRS = pd.DataFrame(
    {
        "prompt": ["2+3=", "1+4=", "6+1=", "4+4="],
        "chosen": ["5", "5", "7", "8"],
        "rejected": ["7", "3", "9", "6"],
    }
)
# A high learning rate so a few steps on the tiny model move log-probs by whole nats.
FAST = TrainParams(learning_rate=3e-2, epochs=5, batch_size=4, warmup_ratio=0.0, max_length=32)


def mean_logprobs(model, tokenizer, column: str) -> float:
    scores = [sequence_logprob(model, tokenizer, p, c) for p, c in zip(PAIRS["prompt"], PAIRS[column])]
    return sum(scores) / len(scores)


def mean_margin(model, tokenizer) -> float:
    return mean_logprobs(model, tokenizer, "chosen") - mean_logprobs(model, tokenizer, "rejected")


@pytest.fixture(scope="module")
def plain_dpo(tiny_model_dir, tmp_path_factory):
    """One plain-DPO run shared by the tests that inspect it or compare against it."""
    model, tokenizer = load_model(tiny_model_dir)
    before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    margin_before = mean_margin(model, tokenizer)
    trained, log = dpo(model, tokenizer, PAIRS, FAST, 0, tmp_path_factory.mktemp("dpo"), progress=False)
    return trained, tokenizer, log, before, margin_before


def test_dpo_widens_the_margin_and_changes_every_parameter(plain_dpo):
    trained, tokenizer, log, before, margin_before = plain_dpo
    assert any("loss" in entry for entry in log)
    assert mean_margin(trained, tokenizer) > margin_before + 1.0
    unchanged = [name for name, parameter in trained.named_parameters() if torch.equal(parameter, before[name])]
    assert unchanged == []


def test_joint_objective_config_and_it_lifts_the_chosen_more(plain_dpo, tiny_model_dir, tmp_path):
    config = trainer_config(FAST, "dpo_sft", len(PAIRS), 0, tmp_path / "config")
    assert (config.loss_type, config.loss_weights) == (["sigmoid", "sft"], [1.0, FAST.sft_weight])
    plain_config = trainer_config(FAST, "dpo", len(PAIRS), 0, tmp_path / "config")
    assert (plain_config.loss_type, plain_config.loss_weights) == (["sigmoid"], [1.0])

    model, tokenizer = load_model(tiny_model_dir)
    chosen_before = mean_logprobs(model, tokenizer, "chosen")
    joint, log = dpo(model, tokenizer, PAIRS, FAST, 0, tmp_path / "work", "dpo_sft", progress=False)
    assert any("loss" in entry for entry in log)
    assert mean_margin(joint, tokenizer) > 1.0  # still a preference objective
    # Same data, seed and schedule: the SFT term lifts the chosen completions' likelihood beyond
    # what DPO alone does (DPO only needs the gap; here by about 0.6 nats on CPU).
    joint_chosen = mean_logprobs(joint, tokenizer, "chosen")
    plain_chosen = mean_logprobs(plain_dpo[0], tokenizer, "chosen")
    assert joint_chosen > chosen_before
    assert joint_chosen > plain_chosen + 0.1


@pytest.mark.parametrize("pairs", [PAIRS.iloc[:0], PAIRS.drop(columns="rejected")], ids=["empty", "no-rejected"])
def test_unusable_pairs_are_refused(tiny_model_dir, tmp_path, pairs):
    model, tokenizer = load_model(tiny_model_dir)
    with pytest.raises(ValueError, match="no preference pairs|lack column"):
        dpo(model, tokenizer, pairs, FAST, 0, tmp_path / "work", progress=False)


def test_lora_dpo_merges_into_a_plain_model(tiny_model_dir, tmp_path):
    model, tokenizer = load_model(tiny_model_dir)
    before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    settings = dataclasses.replace(FAST, method="lora", lora=LoraParams(r=4))
    trained, _ = dpo(model, tokenizer, PAIRS, settings, 0, tmp_path / "work", progress=False)
    assert type(trained).__name__ == "LlamaForCausalLM"
    assert {name for name, _ in trained.named_parameters()} == set(before)  # merged: no adapter weights left
    changed = [name for name, parameter in trained.named_parameters() if not torch.equal(parameter, before[name])]
    assert any("q_proj" in name for name in changed)


def test_sequence_logprob_follows_the_chain_rule(tiny_model_dir):
    model, tokenizer = load_model(tiny_model_dir)
    whole = sequence_logprob(model, tokenizer, "2+3=", "51")
    parts = sequence_logprob(model, tokenizer, "2+3=", "5") + sequence_logprob(model, tokenizer, "2+3=5", "1")
    assert whole == pytest.approx(parts, abs=1e-4)
    assert whole < 0
    assert sequence_logprob(model, tokenizer, "2+3=", "") == 0.0


def test_reference_is_a_frozen_copy_even_of_a_model_a_trainer_patched(tiny_model_dir):
    from trl.trainer.utils import add_fused_lm_head

    from think_prune_train.preference import _frozen_reference

    model, _ = load_model(tiny_model_dir)
    add_fused_lm_head(model)  # what an earlier SFTTrainer/DPOTrainer leaves on the instance
    reference = _frozen_reference(model)
    tokens = torch.tensor([[5, 6, 7]])
    logits_before = reference(input_ids=tokens).logits.clone()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    assert torch.equal(reference(input_ids=tokens).logits, logits_before)
    assert not any(parameter.requires_grad for parameter in reference.parameters())


def test_a_tokenizer_without_pad_is_padded_with_eos_on_a_copy(tiny_model_dir):
    from think_prune_train.preference import _tokenizer_for_pairs

    _, tokenizer = load_model(tiny_model_dir)
    tokenizer.pad_token = None
    padded = _tokenizer_for_pairs(tokenizer)
    assert padded.pad_token == tokenizer.eos_token
    assert tokenizer.pad_token is None


def test_dpo_logs_every_step_and_sft_logs_as_before(plain_dpo, tmp_path):
    *_, log, _, _ = plain_dpo
    steps = step_log(log)
    assert [entry["step"] for entry in steps] == list(range(1, 6))  # 5 epochs of one batch
    for entry in steps:
        assert {"loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                "logps/chosen", "logps/rejected"} <= set(entry)
    sft_config = trainer_config(FAST, "sft", 40, 0, tmp_path)  # 10 steps an epoch, 50 in all
    assert sft_config.logging_steps == 5
    assert trainer_config(FAST, "dpo", 40, 0, tmp_path).logging_steps == 1


@pytest.mark.parametrize("objective", ["dpo", "sft"])
def test_train_stage_keeps_every_dpo_step_in_its_log_and_sft_logs_as_before(objective, tiny_model_dir, tmp_path,
                                                                             monkeypatch):
    import json
    import shutil

    import yaml
    from click.testing import CliRunner

    from stages.train import main
    from think_prune_train.artifacts import Pairs, Pruned, write_frame

    shutil.copytree(tiny_model_dir, tmp_path / "models" / "r0")
    ids = {"round": "r1", "question_id": [f"q{i}" for i in range(len(PAIRS))]}
    write_frame(PAIRS.assign(**ids, chosen_sample=0, rejected_sample=1, shared_prefix_chars=0),
                tmp_path / "data/pairs/r1.parquet", Pairs)
    write_frame(PAIRS.rename(columns={"chosen": "completion"}).drop(columns="rejected").assign(**ids, sample=0),
                tmp_path / "data/pruned/r1.parquet", Pruned)
    train = {"objective": objective, "learning_rate": 3e-2, "epochs": 3, "batch_size": 4, "max_length": 32,
             "precision": "fp32"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seed": 0, "train": train}))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["--round", "r1", "--previous", "r0"])
    assert result.exit_code == 0, result.output
    log = json.loads((tmp_path / "data/train_logs/r1.json").read_text())
    if objective == "sft":
        assert set(log) == {"examples", "start", "first_loss", "last_loss", "steps"}
        return
    assert [entry["step"] for entry in log["log"]] == [1, 2, 3]
    assert log["log"][0]["rewards/margins"] == pytest.approx(0, abs=1e-6)
    assert log["log"][-1]["rewards/margins"] > 0
    assert (log["first_loss"], log["last_loss"]) == (log["log"][0]["loss"], log["log"][-1]["loss"])
