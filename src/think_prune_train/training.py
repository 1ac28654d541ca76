"""Supervised fine-tuning with TRL on (prompt, completion) pairs, loss on the completion only.

Used by the base stage (warm-start on worked solutions) and by every train round (on pruned
traces). Saves a plain Hugging Face folder with safetensors; LoRA adapters are merged first so
the next round loads an ordinary model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from transformers import TrainerCallback

from think_prune_train import failpoints


@dataclass(frozen=True)
class SFTSettings:
    learning_rate: float
    epochs: float
    batch_size: int
    gradient_accumulation: int = 1
    scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_length: int = 512
    seed: int = 0
    lora_r: int = 0  # 0 = full fine-tune
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    bf16: bool = True  # bf16 mixed precision: TRL's default, which every committed run so far used


def process_count() -> int:
    """How many training processes run together (`accelerate launch` / torchrun set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Only the first of several training processes writes checkpoints and logs."""
    return int(os.environ.get("RANK", "0")) == 0


def settings_from_params(train, seed: int) -> dict:
    """The fields SFTSettings and DPOSettings share, from a `train` params section."""
    return {
        "learning_rate": train.learning_rate,
        "epochs": train.epochs,
        "batch_size": train.batch_size,
        "gradient_accumulation": train.gradient_accumulation,
        "scheduler": train.scheduler,
        "warmup_ratio": train.warmup_ratio,
        "weight_decay": train.weight_decay,
        "max_length": train.max_length,
        "seed": seed,
        "lora_r": train.lora.r if train.method == "lora" else 0,
        "lora_alpha": train.lora.alpha,
        "lora_dropout": train.lora.dropout,
        "bf16": train.precision == "bf16",
    }


class _FailpointCallback(TrainerCallback):
    """Lets the fault tests kill training after a chosen optimizer step (`TPT_FAILPOINT=train.step:N`)."""

    def on_step_end(self, args, state, control, **kwargs):
        failpoints.reached("train.step")


def trainer_arguments(settings, rows: int, work_dir: str | Path, progress: bool = True) -> dict:
    """The TRL config arguments SFT and DPO share, for `rows` training rows: warm-up as a share of all steps."""
    # Several processes (accelerate launch) each take batch_size rows per step: fewer optimizer steps.
    steps_per_epoch = -(-rows // (settings.batch_size * settings.gradient_accumulation * process_count()))
    total_steps = max(1, int(steps_per_epoch * settings.epochs))
    return {
        "output_dir": str(work_dir),
        "num_train_epochs": settings.epochs,
        "learning_rate": settings.learning_rate,
        "per_device_train_batch_size": settings.batch_size,
        "gradient_accumulation_steps": settings.gradient_accumulation,
        "lr_scheduler_type": settings.scheduler,
        "warmup_steps": int(settings.warmup_ratio * total_steps),
        "weight_decay": settings.weight_decay,
        "max_length": settings.max_length,
        "bf16": settings.bf16,
        "seed": settings.seed,
        "data_seed": settings.seed,
        "use_cpu": not torch.cuda.is_available(),
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": max(1, total_steps // 10),
        "disable_tqdm": not progress,
        "dataset_num_proc": None,
    }


def lora_config(settings):
    """Adapters on every linear layer (SFT and DPO alike); None for a full fine-tune."""
    if settings.lora_r <= 0:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def sft_config(settings: SFTSettings, examples: int, work_dir: str | Path, progress: bool = True):
    """TRL's SFTConfig for `settings`: completion-only loss, warm-up as a share of all steps."""
    from trl import SFTConfig

    return SFTConfig(**trainer_arguments(settings, examples, work_dir, progress), completion_only_loss=True)


def sft(model, tokenizer, examples: pd.DataFrame, settings: SFTSettings, work_dir: str | Path, progress: bool = True):
    """Fine-tune `model` on `examples` (columns prompt, completion); return the trained model."""
    from datasets import Dataset
    from trl import SFTTrainer

    if examples.empty:
        raise ValueError("no training examples: nothing to fine-tune on")
    dataset = Dataset.from_pandas(examples[["prompt", "completion"]].reset_index(drop=True), preserve_index=False)
    config = sft_config(settings, len(dataset), work_dir, progress)
    trainer = SFTTrainer(
        model=model, args=config, train_dataset=dataset, processing_class=tokenizer, peft_config=lora_config(settings),
        callbacks=[_FailpointCallback()],
    )
    trainer.train()
    trained = trainer.model
    if settings.lora_r > 0:
        trained = trained.merge_and_unload()
    return trained, trainer.state.log_history


def save_model(model, tokenizer, destination: str | Path) -> None:
    """Write safetensors + tokenizer into a temporary folder, then move it into place whole."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    for leftover in destination.parent.glob(f".{destination.name}.*"):  # from an earlier run that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}."))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        staging.chmod(0o755)  # mkdtemp makes it private; a checkpoint is an ordinary folder
        failpoints.reached("save_model.before_replace")
        if destination.exists():
            shutil.rmtree(destination)
        os.replace(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def check_model_source(path: str | Path, allow_hub: bool = False) -> None:
    """Fail early, naming the path, when `path` is not a safetensors model folder (nor, with `allow_hub`, a hub id).

    Checkpoints load from safetensors only: a pickle file (`pytorch_model.bin`) can run code when
    it is loaded, so a folder that has only those is refused rather than unpickled.
    """
    local = Path(path)
    if local.exists() or not allow_hub:
        if not (local / "config.json").exists():
            raise FileNotFoundError(
                f"{local} is not a model folder (no config.json); run the stage that writes it first (`dvc repro`)."
            )
        if not any(local.glob("*.safetensors")):
            raise FileNotFoundError(
                f"{local} has no .safetensors weights; checkpoints are loaded from safetensors only, since pickle "
                f"files (*.bin, *.pt) can run code when loaded. Convert it once where you trust it: "
                f"AutoModelForCausalLM.from_pretrained(folder).save_pretrained(folder, safe_serialization=True)."
            )
        return
    if str(path).startswith((".", "/")) or str(path).count("/") != 1:
        raise FileNotFoundError(
            f"model {str(path)!r} not found: it is neither a local folder nor a hub id of the form owner/name."
        )


def load_model(path: str | Path, trust_remote_code: bool = False, allow_hub: bool = False):
    """Load a checkpoint (a folder, or a hub id with `allow_hub`) for training: safetensors only, fp32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_model_source(path, allow_hub)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(
        path, use_safetensors=True, trust_remote_code=trust_remote_code, dtype=torch.float32
    )
    return model, tokenizer
