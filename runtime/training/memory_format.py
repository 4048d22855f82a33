"""The ``memory_format`` training setting: the tensor layout a convolutional network trains in.

PyTorch stores a batch of images as NCHW by default (``contiguous``): each channel's plane after the
other. ``channels_last`` (NHWC) stores a pixel's channels side by side, the layout oneDNN's CPU
convolutions and pooling and the GPU's tensor cores work in natively. Training in it means no
conversion inside each convolution, and a max pool that is several times cheaper on the CPU.
``benchmarks/bench_layout.py`` measured 1.6-1.8x the steps per second for the ``mnist_cnn`` example on
this CPU and 1.15-1.4x for ``digits_cnn``; ``digits_residual`` was about even. Networks without 2-D
convolutions are untouched (the setting only changes 4-D weights).

- ``auto`` (the default): on the CPU, measured. A network with 2-D convolutions runs a few
  forward and backward passes on its first batch in each layout (alternating, the best of two each,
  after a warm-up; weights, buffers and random streams put back) and keeps channels-last only when it
  is clearly faster (under 0.9x the time). Measured because it does not always pay: of the onnx
  package's models imported, SqueezeNet gained 1.1-1.3x, ShuffleNet (its channel shuffle is a reshape
  and a transpose) lost (0.82-0.96x), DenseNet (a concatenation per layer) measured 0.85x to 1.13x. A run of fewer than
  ``MEASURE_MIN_STEPS`` steps is not worth measuring and keeps the default layout. On CUDA with
  bf16/fp16, channels-last (PyTorch's performance guide: tensor cores take NHWC; not measured here, no
  GPU); PyTorch's default layout otherwise.
- ``channels_last``: channels-last for every network with 2-D convolutions, wherever it trains.
- ``contiguous``: PyTorch's default layout, always.

The layout changes how tensors sit in memory, never what they hold: a channels-last tensor reads the
same NCHW values, ``Flatten`` gives the same vector, checkpoints and exports hold the same weights
(``torch.save`` keeps the strides; ``load_state_dict`` copies into any layout). Results can differ in
the last bits (the kernels add in another order). Set-up proves the layout with a trial step; a network
that cannot run in it (a plugin's ``view`` that needs NCHW strides, say) trains in the default layout,
with a run note saying why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from layerloom.training.config import MEMORY_FORMATS  # noqa: F401 - the setting's choices, named here too

CHANNELS_LAST, CONTIGUOUS = "channels_last", "contiguous"
MEASURE_MIN_STEPS = 200   # the measuring costs about 6 steps: at most 3% of a run
MEASURE_ROUNDS = 2        # timed passes per layout, alternating; the best of each counts
FASTER = 0.9              # channels-last is kept when it takes under this share of the default's time
NO_CONVOLUTIONS = "no 2-D convolutions"

if TYPE_CHECKING:   # torch is imported where it is used: the window reads the words below without it
    import torch


@dataclass(frozen=True)
class LayoutChoice:
    """The layout a run trains in and why (``RunStarted.memory_format``, ``config.json``'s device)."""

    memory_format: str   # channels_last or contiguous
    reason: str
    measure: bool = False   # a candidate ``layout_for_training`` times against the default first

    def to_dict(self) -> dict:
        return {"memory_format": self.memory_format, "reason": self.reason}


def has_conv2d(module: torch.nn.Module) -> bool:
    """Whether ``module`` holds a 2-D convolution (a 4-D weight the layout would change)."""
    import torch

    return any(isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for m in module.modules())


def choose_layout(setting: str, module: torch.nn.Module, device: torch.device | str,
                  precision: str = "fp32") -> LayoutChoice:
    """The layout ``setting`` (auto, channels_last, contiguous) gives ``module`` on ``device``."""
    import torch

    kind = torch.device(device).type
    if setting == CONTIGUOUS:
        return LayoutChoice(CONTIGUOUS, "as asked")
    if not has_conv2d(module):
        return LayoutChoice(CONTIGUOUS, NO_CONVOLUTIONS + (": channels-last changes nothing here"
                                                           if setting == CHANNELS_LAST else ""))
    if setting == CHANNELS_LAST:
        return LayoutChoice(CHANNELS_LAST, "as asked")
    if kind == "cpu":
        return LayoutChoice(CHANNELS_LAST, "2-D convolutions on the CPU", measure=True)
    if kind == "cuda" and precision in ("bf16", "fp16"):
        return LayoutChoice(CHANNELS_LAST, f"2-D convolutions in {precision} on CUDA (tensor cores)")
    return LayoutChoice(CONTIGUOUS, f"PyTorch's default on {kind.upper()} in {precision}")


def apply_layout(module: torch.nn.Module, memory_format: str) -> torch.nn.Module:
    """``module`` with its 4-D parameters and buffers in ``memory_format`` (in place; returned)."""
    import torch

    layout = torch.channels_last if memory_format == CHANNELS_LAST else torch.contiguous_format
    return module.to(memory_format=layout)


def will_measure(choice: LayoutChoice, run_steps: int) -> bool:
    """Whether ``layout_for_training`` times ``choice`` for a run of ``run_steps`` (a few passes: a set-up
    stage worth naming for a big network)."""
    return choice.measure and choice.memory_format == CHANNELS_LAST and run_steps >= MEASURE_MIN_STEPS


def layout_for_training(module: torch.nn.Module, choice: LayoutChoice, trial: Callable[[], None],
                        on_fallback: Callable[[str], None], run_steps: int = MEASURE_MIN_STEPS,
                        clock: Callable[[], float] = time.perf_counter) -> LayoutChoice:
    """Puts ``module`` in the layout ``choice`` names and proves it with ``trial()`` (one forward and
    backward pass that leaves no trace); a layout the network cannot run in is undone, with a note
    through ``on_fallback``. A ``measure`` choice is timed against the default layout first (see the
    module's doc) on a run of at least ``MEASURE_MIN_STEPS`` of ``run_steps``."""
    if choice.memory_format != CHANNELS_LAST:
        return choice
    if choice.measure and not will_measure(choice, run_steps):
        return LayoutChoice(CONTIGUOUS, f"not measured for a short run ({run_steps} steps): PyTorch's default")
    if choice.measure:
        try:
            trial()   # the default layout's warm-up; a network that fails in it fails in its first step
        except Exception:  # noqa: BLE001 - not this function's to report
            return LayoutChoice(CONTIGUOUS, "not measured")
    apply_layout(module, CHANNELS_LAST)
    try:
        trial()
    except Exception as exc:  # noqa: BLE001 - any failure in the new layout: train in the old one
        apply_layout(module, CONTIGUOUS)
        text = str(exc).strip().splitlines()
        why = f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
        on_fallback(f"memory format: training in PyTorch's default layout: channels-last failed ({why})")
        return LayoutChoice(CONTIGUOUS, "channels-last failed in the trial step")
    if not choice.measure:
        return choice
    times: dict[str, list[float]] = {CHANNELS_LAST: [], CONTIGUOUS: []}
    for _ in range(MEASURE_ROUNDS):   # alternating, so a machine that gets busier meets both alike
        for layout in (CHANNELS_LAST, CONTIGUOUS):
            apply_layout(module, layout)
            started = clock()
            trial()
            times[layout].append(clock() - started)
    last, default = min(times[CHANNELS_LAST]), min(times[CONTIGUOUS])
    speed = default / last if last > 0 else 0.0   # channels-last's speed, the default's as 1
    if last < FASTER * default:
        apply_layout(module, CHANNELS_LAST)
        return LayoutChoice(CHANNELS_LAST, f"{choice.reason}: measured {speed:.2f}x the default layout's speed")
    slower = "slower" if speed < 1 else "not clearly faster"
    return LayoutChoice(CONTIGUOUS, f"channels-last measured {speed:.2f}x its speed: {slower}")


def layout_text(memory_format: str, reason: str = "") -> str:
    """A run's layout in words ("channels-last (2-D convolutions on the CPU: measured 1.62x the default
    layout's speed)", "default layout (channels-last measured 0.80x its speed: slower)"); empty where
    there is nothing to say (not recorded, or a network without 2-D convolutions on ``auto``)."""
    if not memory_format or (memory_format == CONTIGUOUS and reason == NO_CONVOLUTIONS):
        return ""
    name = "channels-last" if memory_format == CHANNELS_LAST else "default layout"
    return f"{name} ({reason})" if reason else name


def match_state_layout(optimizer: torch.optim.Optimizer) -> int:
    """Gives each optimizer state tensor shaped like its parameter the parameter's layout; returns how
    many were changed. A state loaded from a checkpoint saved in another layout must not stay so: the
    fused Adam kernel walks parameter and state memory in step, so mismatched strides would pair the
    wrong elements without any error."""
    import torch

    changed = 0
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if (isinstance(value, torch.Tensor) and value.shape == param.shape
                        and value.stride() != param.stride()):
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)
                    changed += 1
    return changed
