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


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AMX or AVX-512 BF16).

    There, bf16 autocast trains an LSTM language model about 1.5-2x faster (bench/tune.py);
    elsewhere bf16 is emulated and slower than fp32.
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast type for training, or None for plain fp32.

    ``auto`` is bf16 on a CUDA GPU that has it (the weights and optimizer stay fp32; cuDNN's
    LSTM runs in bf16) and on a CPU with bf16 units (AMX, AVX-512 BF16); fp32 elsewhere,
    where bf16 would be emulated and slower.
    """
    import torch

    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r}; choose from {', '.join(PRECISIONS)}")
    native = (device.type == "cuda" and torch.cuda.is_bf16_supported()) or (
        device.type == "cpu" and cpu_has_bf16()
    )
    if name == "bf16" and not native:
        raise ConfigError(f"bf16 training needs a GPU or CPU that computes in it, not {device}")
    return torch.bfloat16 if name == "bf16" or (name == "auto" and native) else None
