"""The ``compile`` training setting: the network run through ``torch.compile`` where that works.

``off`` (the default) trains the compiled graph's ``GraphModule`` as it is. ``on`` hands it to
``torch.compile`` (TorchDynamo captures the graph, Inductor generates fused kernels: a graph made static
once, instead of one operator call after another) and proves it on a trial step during set-up (one
forward and backward pass on the first training batch; the weights, buffers and random streams are put
back afterwards, so the run trains exactly the batches it would have). ``auto`` compiles where it is known
to pay: on CUDA; on the CPU the compile time (several seconds) outweighed the gain at the sizes measured
by ``benchmarks/bench_mnist.py --compile``.

Where compiling cannot work, the run trains uncompiled and says why in a run note: a graph with ONNX
operator nodes (their Python-level dispatch is not traceable), no C++ compiler on a CPU machine (Inductor
builds C++ kernels), or a trial step that fails (any error from the compiler). A compiled step that fails
later in the run (a new batch shape that will not recompile) falls back to the uncompiled network for the
rest of the run. Only the training steps use the compiled network; evaluation runs the module itself (a
second, eval-mode compile would cost more than it saves on a validation split). Checkpoints and exports
save the original module's ``state_dict``, never the compiled wrapper's (whose keys get ``_orig_mod.``).
"""

from __future__ import annotations

import os
import shutil
from typing import Callable

import torch

from layerloom.training.config import COMPILE_CHOICES  # noqa: F401 - the setting's choices, named here too
CPP_COMPILERS = ("g++", "c++", "clang++")


def wants_compile(setting: str, device: torch.device) -> bool:
    """Whether ``setting`` (off, on, auto) asks for a compiled network on ``device``."""
    if setting == "on":
        return True
    return setting == "auto" and device.type == "cuda"


def cpp_compiler() -> str | None:
    """The C++ compiler Inductor would use on the CPU (``CXX``, else the first of ``CPP_COMPILERS``)."""
    given = os.environ.get("CXX")
    if given:
        return shutil.which(given)
    return next((found for found in map(shutil.which, CPP_COMPILERS) if found), None)


def compile_blocker(module: torch.nn.Module, device: torch.device) -> str | None:
    """Why ``module`` cannot be compiled on ``device`` here (None: worth a try)."""
    if not hasattr(torch, "compile"):
        return f"this PyTorch ({torch.__version__}) has no torch.compile"
    onnx_ops = sorted({type(m).__name__ for m in module.modules() if type(m).__name__ == "OnnxOperator"})
    if onnx_ops:
        return "the graph has ONNX operator nodes, which torch.compile does not trace"
    if device.type == "cpu" and cpp_compiler() is None:
        return "no C++ compiler found (torch.compile on the CPU needs g++ or clang++; set CXX to use another)"
    return None


def fallback_note(reason: str) -> str:
    return f"compile: training uncompiled: {reason}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


class CompiledForward:
    """Calls the compiled network; after a failure, the module itself for the rest of the run (the
    failure becomes a note through ``on_fallback``)."""

    def __init__(self, module: torch.nn.Module, compiled: Callable, on_fallback: Callable[[str], None]):
        self.module, self.compiled, self.on_fallback = module, compiled, on_fallback

    @property
    def active(self) -> bool:
        return self.compiled is not None

    def __call__(self, *args):
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except Exception as exc:  # noqa: BLE001 - any compiler error: fall back, the eager call decides
                self.compiled = None
                self.on_fallback(fallback_note(f"torch.compile failed during the run ({_first_line(exc)})"))
        return self.module(*args)


def compile_for_training(module: torch.nn.Module, device: torch.device, trial: Callable[[Callable], None],
                         on_fallback: Callable[[str], None]) -> Callable:
    """The callable the training steps run: ``CompiledForward`` when compiling works (``trial(forward)``
    runs one step with it and must leave no trace), else ``module`` with a note through ``on_fallback``."""
    blocker = compile_blocker(module, device)
    if blocker is not None:
        on_fallback(fallback_note(blocker))
        return module
    try:
        compiled = torch.compile(module)
        trial(compiled)
    except Exception as exc:  # noqa: BLE001 - a compiler that fails: train without it
        on_fallback(fallback_note(f"torch.compile failed ({_first_line(exc)})"))
        return module
    return CompiledForward(module, compiled, on_fallback)
