import dataclasses

import pandas as pd
import pytest
import torch

from think_prune_train.params import LoraParams, TrainParams
from think_prune_train.preference import dpo, sequence_logprob
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
