"""What this machine can compute fast: the precision training uses, and a one-line description of it.

bf16 is fast only where the hardware does it natively: a CUDA GPU of compute capability 8 or
more, or a CPU with AVX-512 BF16 or AMX (x86) or the BF16 extension (Arm). Elsewhere PyTorch
emulates bf16 matrix products in a slow fallback; on a 2-core AVX2 CPU the default tiny model
took 6.5 s per training step in bf16 against 0.35 s in fp32. So `train.precision: auto` picks
bf16 on a GPU that supports it and fp32 on every CPU, and forcing bf16 on a CPU without native
support warns once, naming the setting.
"""

from __future__ import annotations

import functools
import os
import platform
import warnings
from pathlib import Path

# /proc/cpuinfo flags that mean the CPU multiplies bf16 natively (x86: AVX-512 BF16, AMX; Arm: BF16).
NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_model() -> str:
    """The CPU's marketing name ('Intel(R) Xeon(R) Processor', 'AMD EPYC 7B13'), or the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() in ("model name", "Model"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def torch_cpu_capability() -> str:
    """The vector instruction set PyTorch's CPU kernels dispatch to ('AVX512', 'AVX2', ...)."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def cpu_has_native_bf16() -> bool:
    """True when the CPU has bf16 instructions and PyTorch's kernels are allowed to use them.

    PyTorch can be held to AVX2 (ATEN_CPU_CAPABILITY=avx2), and then runs bf16 through the same
    fallback as a CPU without the instructions: that counts as not native.
    """
    if not NATIVE_BF16_FLAGS & cpu_flags():
        return False
    return platform.machine().lower() in ("aarch64", "arm64") or torch_cpu_capability().startswith("AVX512")


def training_device() -> str:
    """'cuda' when a CUDA GPU is visible (training runs there), else 'cpu'."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def _warn_emulated_bf16() -> None:
    warnings.warn(
        "train.precision is 'bf16' but this CPU has no native bf16 (no AVX-512 BF16 or AMX): PyTorch emulates "
        "it, and training runs about 10-20x slower than in fp32. Set train.precision=auto (or fp32) unless "
        "you need bf16's numerics.",
        stacklevel=3,
    )


def resolve_precision(requested: str) -> str:
    """The precision training actually uses for `train.precision` ('auto', 'bf16' or 'fp32').

    'auto' is bf16 on a CUDA GPU that supports it and fp32 on a CPU, even one with native bf16:
    the default run's bytes then do not depend on which CPU made them.
    """
    if requested not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', got {requested!r}")
    device = training_device()
    if requested == "auto":
        import torch

        return "bf16" if device == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if requested == "bf16" and device == "cpu" and not cpu_has_native_bf16():
        _warn_emulated_bf16()
    return requested


def describe_machine() -> dict[str, object]:
    """What made a figure: CPU model, cores, PyTorch's CPU capability, native bf16, GPU (for bench outputs)."""
    import torch

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch_cpu_capability(),
        "native_bf16": cpu_has_native_bf16(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
    }


def machine_line() -> str:
    """describe_machine() as one line, for the head of a bench output."""
    machine = describe_machine()
    gpu = f", GPU {machine['gpu']}" if machine["gpu"] else ", no GPU"
    return (
        f"machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']} CPU capability "
        f"{machine['torch_cpu_capability']}, native bf16: {'yes' if machine['native_bf16'] else 'no'}{gpu}"
    )
