"""Preference fine-tuning (DPO) with TRL on (prompt, chosen, rejected) triples of plain text.

Pruning yields correct and incorrect traces for the same question; DPO uses both, where SFT only
keeps the correct ones. The objective `dpo_sft` adds an SFT term on the chosen completion, because
plain DPO only widens the gap between chosen and rejected and may lower the likelihood of both.

The prompt is the model's input text as the sampling backends see it and the completions are its
continuations. TRL appends the tokenizer's EOS to both completions, as SFT does, so the model also
learns where a preferred answer ends. TRL tokenizes prompt + completion as one text (as SFT does),
and the completion's tokens start where that sequence and the prompt's own tokens first differ:
when a pair's prompt ends inside what the tokenizer merges (a shared prefix cut after a space, for
a BPE tokenizer whose words carry their leading space), the merged token counts as completion.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd

from think_prune_train.params import TrainParams
from think_prune_train.training.sft import callbacks, check_room, lora_config, tokenizer_as_sampled, trainer_config

PAIR_COLUMNS = ["prompt", "chosen", "rejected"]


def _frozen_reference(model):
    """An independent, frozen copy of `model` as it is now, to anchor the DPO log-ratios.

    TRL would otherwise reload the reference from `config._name_or_path`, which is not the
    in-memory model when it was changed after loading, and fails for a model built in memory.
    An earlier TRL trainer may have patched `forward` onto the instance with a closure over the
    original model; dropping it makes the copy run its own class's forward.
    """
    reference = copy.deepcopy(model)
    reference.__dict__.pop("forward", None)
    reference.eval()
    reference.requires_grad_(False)
    return reference


def _tokenizer_for_pairs(tokenizer):
    """The tokenizer TRL should use: it needs an EOS to end completions and a pad token to batch.

    It adds no BOS, as the sampling backends add none (see `tokenizer_as_sampled`). TRL sets a
    missing pad token to EOS on the object it is given; a copy keeps the caller's tokenizer (which
    is saved with the model) as it was.
    """
    if tokenizer.eos_token is None:
        raise ValueError("the tokenizer has no EOS token, which DPO appends to every completion")
    tokenizer = tokenizer_as_sampled(tokenizer)
    if tokenizer.pad_token is not None:
        return tokenizer
    padded = copy.deepcopy(tokenizer)
    padded.pad_token = padded.eos_token
    return padded


def _pairs_dataset(pairs: pd.DataFrame):
    """A datasets.Dataset of the three text columns; refuses empty or malformed input up front."""
    from datasets import Dataset

    missing = [column for column in PAIR_COLUMNS if column not in pairs.columns]
    if missing:
        raise ValueError(f"preference pairs lack column(s) {missing}; expected {PAIR_COLUMNS}")
    if pairs.empty:
        raise ValueError("no preference pairs: nothing to train on")
    return Dataset.from_pandas(pairs[PAIR_COLUMNS].reset_index(drop=True), preserve_index=False)


# TRL's per-step DPO metrics worth keeping in a train log: how the two log-probabilities move,
# not just the loss (DPO's loss can fall while both likelihoods collapse).
STEP_METRICS = [
    "loss", "grad_norm", "learning_rate", "rewards/chosen", "rewards/rejected", "rewards/margins",
    "rewards/accuracies", "logps/chosen", "logps/rejected", "mean_token_accuracy", "entropy",
]


def preference_trainer(
    model,
    tokenizer,
    pairs: pd.DataFrame,
    train: TrainParams,
    seed: int,
    work_dir: str | Path,
    objective: str = "dpo",
    progress: bool = True,
    curves: str | Path | None = None,
):
    """TRL's DPOTrainer for `pairs`, ready to train: its tokenized dataset, collator and reference can be inspected.

    The reference is the model as passed in: a frozen copy for a full fine-tune (twice the weights
    in memory), or the same weights with the adapters switched off under LoRA (no extra copy).
    """
    from trl import DPOTrainer

    dataset = _pairs_dataset(pairs)
    check_room(pairs["prompt"], tokenizer, train)
    config = trainer_config(train, objective, len(dataset), seed, work_dir, progress)
    peft_config = lora_config(train)
    reference = _frozen_reference(model) if peft_config is None else None
    return DPOTrainer(
        model=model,
        ref_model=reference,
        args=config,
        train_dataset=dataset,
        processing_class=_tokenizer_for_pairs(tokenizer),
        peft_config=peft_config,
        callbacks=callbacks(curves),
    )


def dpo(
    model,
    tokenizer,
    pairs: pd.DataFrame,
    train: TrainParams,
    seed: int,
    work_dir: str | Path,
    objective: str = "dpo",
    progress: bool = True,
    curves: str | Path | None = None,
):
    """Train `model` to prefer `chosen` over `rejected` after each `prompt`; return (model, log history).

    `objective` is 'dpo', or 'dpo_sft' to add train.sft_weight x SFT on the chosen completion.
    TRL logs every step (see `step_log`); with `curves`, DVCLive writes them into that folder. LoRA adapters are merged before returning, so the result
    saves as an ordinary model.
    """
    trainer = preference_trainer(model, tokenizer, pairs, train, seed, work_dir, objective, progress, curves)
    trainer.train()
    trained = trainer.model
    if lora_config(train) is not None:
        trained = trained.merge_and_unload()
    return trained, trainer.state.log_history


def step_log(log_history: list[dict]) -> list[dict]:
    """One row per logged optimizer step: its number and TRL's DPO metrics (STEP_METRICS) as logged."""
    return [
        {"step": entry["step"], **{name: entry[name] for name in STEP_METRICS if name in entry}}
        for entry in log_history
        if "rewards/margins" in entry
    ]
