"""Which torch device to run on: ``auto`` tries cuda, then mps, then the CPU."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lstm_tui.core.errors import ConfigError

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions: ``lstm-tui`` checks the --device name before the
# app paints, and importing torch takes seconds.

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def available_devices() -> list[str]:
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found.insert(0, "cuda")
    if _mps_available():
        found.insert(0, "mps")
    return found


def resolve_device(name: str = "auto") -> torch.device:
    """The device for a name, or ``ConfigError`` if it is not on this machine."""
    import torch

    name = (name or "auto").strip().lower()
    kind = name.split(":")[0]
    if kind not in DEVICE_CHOICES:
        raise ConfigError(f"unknown device {name!r}; choose from {', '.join(DEVICE_CHOICES)}")
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r} is not available: no CUDA GPU (torch {torch.__version__})"
        )
    if kind == "mps" and not _mps_available():
        raise ConfigError(f"device {name!r} is not available: no Apple MPS backend here")
    try:
        device = torch.device(name)
        if device.type == "cuda" and device.index is not None:
            torch.cuda.get_device_properties(device.index)
    except (RuntimeError, AssertionError) as e:
        raise ConfigError(f"device {name!r} is not available: {e}") from None
    return device


def describe_device(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast type for training, or None for plain fp32.

    ``auto`` is bf16 on a CUDA GPU that has it (the weights and optimizer stay fp32; cuDNN's
    LSTM runs in bf16), fp32 elsewhere: a CPU without bf16 units is slower in it.
    """
    import torch

    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r}; choose from {', '.join(PRECISIONS)}")
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if name == "bf16" and not cuda_bf16:
        raise ConfigError(f"bf16 training needs a CUDA GPU that supports it, not {device}")
    return torch.bfloat16 if name == "bf16" or (name == "auto" and cuda_bf16) else None
