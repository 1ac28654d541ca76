"""train.precision: 'auto' never picks bf16 on a CPU, and a forced bf16 on a CPU without it warns once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from think_prune_train.hardware import describe_machine, machine_line, resolve_precision
from think_prune_train.params import ParamsError, TrainParams, load_section
from think_prune_train.training.sft import run_record, trainer_config
from think_prune_train.training.sources import warmup_training

needs_cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the choice on a machine without a GPU")
# PyTorch, oneDNN and MKL held to AVX2: how a CPU without AVX-512 BF16 or AMX runs bf16.
AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


@needs_cpu_only
def test_auto_is_fp32_on_a_cpu_even_one_with_native_bf16(tmp_path):
    assert TrainParams().precision == "auto"
    assert resolve_precision("auto") == "fp32"
    config = trainer_config(TrainParams(), "sft", 100, 0, tmp_path)
    assert not config.bf16 and not config.fp16
    assert run_record(TrainParams()) == {"precision": "fp32", "device": "cpu"}


@needs_cpu_only
def test_the_warm_up_reads_train_precision(tmp_path):
    spec = load_section("base", {})
    assert warmup_training(spec).precision == "auto"
    assert not trainer_config(warmup_training(spec), "sft", 100, 0, tmp_path).bf16
    assert trainer_config(warmup_training(spec, "bf16"), "sft", 100, 0, tmp_path).bf16


def test_gradient_checkpointing_is_off_unless_asked(tmp_path):
    assert not trainer_config(TrainParams(), "sft", 100, 0, tmp_path).gradient_checkpointing
    assert trainer_config(TrainParams(gradient_checkpointing=True), "sft", 100, 0, tmp_path).gradient_checkpointing


def test_forced_bf16_is_kept_and_forced_fp32_too():
    assert resolve_precision("bf16") == "bf16"
    assert resolve_precision("fp32") == "fp32"


def test_unknown_precision_names_the_key():
    with pytest.raises(ParamsError, match=r"train\.precision.*auto, fp32, bf16"):
        load_section("train", {"train": {"precision": "fp16"}})


@needs_cpu_only
def test_forced_bf16_on_a_cpu_without_native_bf16_warns_once():
    """Held to AVX2 kernels, this CPU runs bf16 as one without AVX-512 BF16 or AMX does: emulated."""
    script = (
        "from think_prune_train.hardware import cpu_has_native_bf16, resolve_precision\n"
        "assert not cpu_has_native_bf16()\n"
        "for _ in range(3): resolve_precision('bf16')\n"
        "resolve_precision('auto'); resolve_precision('fp32')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, **AVX2_ONLY},
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("train.precision is 'bf16' but this CPU has no native bf16") == 1, result.stderr
    assert "train.precision=auto" in result.stderr


def test_machine_line_names_cpu_cores_capability_and_bf16():
    machine = describe_machine()
    line = machine_line()
    assert machine["cpu"] and machine["cpu"] in line
    assert f"{os.cpu_count()} cores" in line
    assert f"CPU capability {torch.backends.cpu.get_cpu_capability()}" in line
    assert "native bf16: yes" in line or "native bf16: no" in line
