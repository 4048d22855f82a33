"""Where training runs.

``auto`` picks CUDA, then Apple MPS, then the CPU. Mixed precision is a CUDA feature: asked for
elsewhere, training falls back to fp32 and says so.
"""

from __future__ import annotations

import platform
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from layerloom.core.errors import LayerLoomError


class DeviceError(LayerLoomError):
    """The requested device is not available on this machine."""


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device
    name: str                 # "NVIDIA H100 80GB HBM3", "Apple MPS", "CPU (x86_64, 2 threads)"
    precision: str            # what will actually be used: fp32, bf16 or fp16
    note: str = ""            # why the precision differs from the request, if it does

    @property
    def kind(self) -> str:
        return self.device.type

    def autocast(self):
        """The autocast context for the forward pass (a no-op in fp32)."""
        if self.precision == "fp32":
            return nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def choose_device(request: str = "auto", precision: str = "fp32") -> DeviceChoice:
    """Resolve ``auto``/``cpu``/``cuda``/``mps``; raises ``DeviceError`` when the device is missing."""
    if request == "auto":
        request = "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    if request == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was asked for but no CUDA GPU is available "
                              f"(torch {torch.__version__} sees none); use device 'auto' or 'cpu'")
        device = torch.device("cuda", torch.cuda.current_device())
        name = torch.cuda.get_device_name(device)
    elif request == "mps":
        if not mps_available():
            raise DeviceError("Apple MPS was asked for but is not available; use device 'auto' or 'cpu'")
        device, name = torch.device("mps"), "Apple MPS"
    elif request == "cpu":
        device = torch.device("cpu")
        threads = torch.get_num_threads()
        name = f"CPU ({platform.machine() or 'unknown'}, {threads} thread{'s' if threads != 1 else ''})"
    else:
        raise DeviceError(f"unknown device {request!r}; use auto, cpu, cuda or mps")
    note = ""
    if precision != "fp32" and device.type != "cuda":
        note = f"{precision} mixed precision needs a CUDA GPU; training in fp32 on {device.type}"
        precision = "fp32"
    elif precision == "bf16" and not torch.cuda.is_bf16_supported():
        note, precision = "this GPU has no bf16 support; using fp16 with loss scaling", "fp16"
    return DeviceChoice(device, name, precision, note)
