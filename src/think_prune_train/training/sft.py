"""Supervised fine-tuning with TRL on (prompt, completion) pairs, loss on the completion only.

Used by the base stage (warm-start on worked solutions) and by every train round (on pruned
traces). Saves a plain Hugging Face folder with safetensors; LoRA adapters are merged first so
the next round loads an ordinary model.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pandas as pd
import torch
from transformers import TrainerCallback

from think_prune_train import failpoints
from think_prune_train.errors import TrainingDataTooLong
from think_prune_train.hardware import resolve_precision, training_device
from think_prune_train.params import TrainParams


def process_count() -> int:
    """How many training processes run together (`accelerate launch` / torchrun set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Only the first of several training processes writes checkpoints and logs."""
    return int(os.environ.get("RANK", "0")) == 0


class _FailpointCallback(TrainerCallback):
    """Lets the fault tests kill training after a chosen optimizer step (`TPT_FAILPOINT=train.step:N`)."""

    def on_step_end(self, args, state, control, **kwargs):
        failpoints.reached("train.step")


class _NoSpecialTokens:
    """Mixed into a tokenizer's class: every call tokenizes with add_special_tokens=False, whatever it is asked."""

    def __call__(self, *args, **kwargs):
        kwargs["add_special_tokens"] = False
        return super().__call__(*args, **kwargs)


def tokenizer_as_sampled(tokenizer):
    """`tokenizer` as the sampling backends use it: a copy that adds no special tokens (BOS) when called.

    The backends tokenize prompts with add_special_tokens=False, because the prompt text is the
    model's whole input (a chat template writes its own BOS). TRL's trainers call the tokenizer
    with its default, which for many tokenizers (Llama, Gemma, Mistral) puts a BOS before every
    training sequence: the model would learn to answer after a BOS it never sees when sampling
    (or after two, under a chat template). A tokenizer that adds nothing is returned unchanged.
    """
    probe = "2+3=5"
    if tokenizer(probe)["input_ids"] == tokenizer(probe, add_special_tokens=False)["input_ids"]:
        return tokenizer
    plain = copy.deepcopy(tokenizer)  # the caller's tokenizer is saved with the model: leave it as it is
    plain.__class__ = type(f"{type(tokenizer).__name__}AsSampled", (_NoSpecialTokens, type(tokenizer)), {})
    return plain


def trainer_config(train: TrainParams, objective: str, rows: int, seed: int, work_dir: str | Path, progress: bool = True):
    """TRL's config for a `train` params section: SFTConfig for objective 'sft', DPOConfig for 'dpo' and 'dpo_sft'.

    The one place params become TRL arguments. Warm-up is a share of all optimizer steps over `rows`
    training rows (examples, or pairs); the loss of SFT is on the completion only; dpo_sft adds
    `sft_weight` x SFT on the chosen completion to sigmoid DPO.
    """
    from trl import DPOConfig, SFTConfig

    # Several processes (accelerate launch) each take batch_size rows per step: fewer optimizer steps.
    steps_per_epoch = -(-rows // (train.batch_size * train.gradient_accumulation * process_count()))
    total_steps = max(1, int(steps_per_epoch * train.epochs))
    shared = {
        "output_dir": str(work_dir),
        "num_train_epochs": train.epochs,
        "learning_rate": train.learning_rate_for(objective),
        "per_device_train_batch_size": train.batch_size,
        "gradient_accumulation_steps": train.gradient_accumulation,
        "lr_scheduler_type": train.scheduler,
        "warmup_steps": int(train.warmup_ratio * total_steps),
        "weight_decay": train.weight_decay,
        "max_length": train.max_length,
        "bf16": resolve_precision(train.precision) == "bf16",
        "gradient_checkpointing": train.gradient_checkpointing,
        "seed": seed,
        "data_seed": seed,
        "use_cpu": not torch.cuda.is_available(),
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": max(1, total_steps // 10),
        "disable_tqdm": not progress,
        "dataset_num_proc": None,
    }
    if objective == "sft":
        return SFTConfig(**shared, completion_only_loss=True)
    if objective == "dpo":
        loss_type, loss_weights = ["sigmoid"], [1.0]
    elif objective == "dpo_sft":
        loss_type, loss_weights = ["sigmoid", "sft"], [1.0, train.sft_weight]
    else:
        raise ValueError(f"objective must be one of sft, dpo, dpo_sft, got {objective!r}")
    # Every step: DPO's rewards and log-probabilities can drift in a few steps (the train log keeps them).
    shared["logging_steps"] = 1
    return DPOConfig(**shared, beta=train.dpo_beta, loss_type=loss_type, loss_weights=loss_weights)


def lora_config(train: TrainParams):
    """Adapters on every linear layer (SFT and DPO alike) when train.method is 'lora'; None for a full fine-tune."""
    if train.method != "lora":
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=train.lora.r,
        lora_alpha=train.lora.alpha,
        lora_dropout=train.lora.dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def callbacks(curves: str | Path | None) -> list[TrainerCallback]:
    """The trainers' callbacks: the fault tests' failpoint, and DVCLive's curves into the folder `curves` if given."""
    if curves is None:
        return [_FailpointCallback()]
    from think_prune_train.training.curves import CurvesCallback

    return [_FailpointCallback(), CurvesCallback(curves)]


def check_room(prompts: pd.Series, tokenizer, train: TrainParams) -> None:
    """Refuse prompts that take all of `train.max_length`: their completion would be cut away entirely.

    TRL cuts every prompt + completion to max_length from the end, so such a row trains nothing, silently.
    A long few-shot prompt kept for training (train.prompt: as_sampled) is the usual cause.
    """
    lengths = {text: len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in prompts.unique()}
    longest = max(lengths.values(), default=0)
    if longest >= train.max_length:
        over = sum(lengths[text] >= train.max_length for text in prompts)
        raise TrainingDataTooLong(
            f"train.max_length={train.max_length}: {over} of {len(prompts)} training rows have a prompt of "
            f"{train.max_length} tokens or more (the longest {longest}), which leaves no room for the completion: "
            f"raise train.max_length above {longest} plus the completion's length, or train on zero-shot prompts "
            f"(train.prompt=zero_shot) when the prompts carry few-shot examples"
        )


def sft_trainer(model, tokenizer, examples: pd.DataFrame, train: TrainParams, seed: int, work_dir: str | Path,
                progress: bool = True, curves: str | Path | None = None):
    """TRL's SFTTrainer for `examples` (columns prompt, completion), ready to train; its dataset can be inspected.

    With `curves`, DVCLive writes the training curves into that folder (see `training.curves`).
    """
    from datasets import Dataset
    from trl import SFTTrainer

    if examples.empty:
        raise ValueError("no training examples: nothing to fine-tune on")
    check_room(examples["prompt"], tokenizer, train)
    dataset = Dataset.from_pandas(examples[["prompt", "completion"]].reset_index(drop=True), preserve_index=False)
    return SFTTrainer(
        model=model, args=trainer_config(train, "sft", len(dataset), seed, work_dir, progress), train_dataset=dataset,
        processing_class=tokenizer_as_sampled(tokenizer), peft_config=lora_config(train),
        callbacks=callbacks(curves),
    )


def sft(model, tokenizer, examples: pd.DataFrame, train: TrainParams, seed: int, work_dir: str | Path,
        progress: bool = True, curves: str | Path | None = None):
    """Fine-tune `model` on `examples` (columns prompt, completion); return (trained model, log history).

    With `curves`, DVCLive writes the training curves into that folder.
    """
    trainer = sft_trainer(model, tokenizer, examples, train, seed, work_dir, progress, curves)
    trainer.train()
    trained = trainer.model
    if lora_config(train) is not None:
        trained = trained.merge_and_unload()
    return trained, trainer.state.log_history


def loss_summary(log: list[dict]) -> dict[str, object]:
    """The first and last logged training loss and the optimizer steps, from a trainer's log history."""
    losses = [entry["loss"] for entry in log if "loss" in entry]
    return {"first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
            "steps": log[-1].get("step") if log else 0}


def run_record(train: TrainParams) -> dict[str, str]:
    """Where and in what precision training ran, for the train logs: {'precision': 'fp32', 'device': 'cpu'}."""
    return {"precision": resolve_precision(train.precision), "device": training_device()}
