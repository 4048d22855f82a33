"""What a run says, in words: its outcome, its failure, its state in the header, a run folder read
back. Plain functions over the runtime's events and run records (no widgets)."""

from __future__ import annotations

import re

from layerloom.training.events import Failed, Finished, Stopped

from layerloom.training.records import format_duration
from layerloom.training.memory_format import layout_text
from layerloom.training.threads import thread_text
from layerloom.nodeeditor.dashboard.run_header import FAILED, FINISHED, IDLE, STOPPED, WARNED

ADD_LOSS = "add_loss"   # the banner's button for a graph F5 found without a loss (``loss_fix``)


def device_text(started) -> tuple[str, str]:
    """The header's device words for a started run, and their tooltip: on the CPU its threads ("CPU, 1
    thread"), with why and the processor in the tooltip (the header keeps its room for the progress bar);
    elsewhere the device's name and its precision. A convolutional network's layout (channels-last or the default, and why) is in the tooltip."""
    precision = f", {started.precision}" if started.precision != "fp32" else ""
    layout = layout_text(getattr(started, "memory_format", ""), getattr(started, "memory_format_reason", ""))
    layout = f"\nlayout: {layout}" if layout else ""
    if started.device == "cpu" and getattr(started, "threads", 0):
        return (f"CPU, {thread_text(started.threads)}{precision}",
                f"{thread_text(started.threads, started.threads_reason)}\n"
                f"{re.sub(r',? [0-9]+ threads?', '', started.device_name)}{layout}")   # the count is said above
    return started.device_name + precision, layout.strip()


def state_of(result) -> str:
    """The header state a terminal event leaves."""
    if isinstance(result, Finished):
        return WARNED if result.warnings else FINISHED
    if isinstance(result, Stopped):
        return STOPPED
    return FAILED


def plain(text: str) -> str:
    """A runtime message with the settings keys a file holds put in words (``training.dataset.path``
    -> ``dataset path``), as the window's form names them."""
    text = re.sub(r"training\.dataset\.(\w+)", lambda m: f"dataset {m.group(1).replace('_', ' ')}", str(text))
    return re.sub(r"training\.(?:\w+\.)?(\w+)", lambda m: m.group(1).replace("_", " "), text)


def first_line(text: str) -> str:
    """The first line of a message (with the next, when the first only introduces it: "cannot train:")."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        return f"{lines[0]} {lines[1]}"
    return lines[0] if lines else ""


def outcome_text(result) -> str:
    """The header's words for how a run ended, and where its folder is."""
    folder = f"\nRun folder: {result.run_dir}" if getattr(result, "run_dir", None) else ""
    if isinstance(result, Finished):
        best = result.best or {}
        text = f"Finished in {format_duration(result.duration_s)}"
        if best.get("metric") and best.get("value") is not None:
            text += f": best {best['metric']} {best['value']:.4f} at epoch {best['epoch']}"
        if result.reason == "early_stopped":
            text += " (stopped early: no improvement)"
        if result.warnings:
            text += ", but it did not learn (the banner below says why)"
        return text + folder
    if isinstance(result, Stopped):
        text = result.message or f"Stopped at epoch {result.epoch}, step {result.step}"
        if "checkpoint" in text and result.run_dir:   # a checkpoint is kept: say how to go on from it
            text = text.rstrip(".") + ". To go on: Runs, right-click it, Continue training."
        return text[:1].upper() + text[1:] + folder
    kind = {"setup": "could not start", "diverged": "diverged", "out_of_memory": "ran out of memory"}.get(
        result.kind, "failed")
    return f"Training {kind}: {plain(result.message.removeprefix('cannot train:').strip())}"


def failure_text(graph_name: str, result: Failed) -> str:
    """The banner's words for a failed run of ``graph_name``."""
    if result.kind == "setup":
        head = f"“{graph_name}” could not start training"
    elif result.kind == "diverged":
        head = f"“{graph_name}” diverged"
    else:
        head = f"Training “{graph_name}” failed"
    text = f"{head}: {plain(result.message.removeprefix('cannot train:').strip())}"
    if result.kind == "disk_full" and result.run_dir:   # the window cannot resume a run: say what can
        text += f". To resume it from its last checkpoint: layerloom-cli train --resume \"{result.run_dir}\""
    return text


def run_problem(result: Failed):
    """A failure that names no node, as one Problems entry for the whole graph."""
    from layerloom.model.analysis import Problem

    return Problem("training", f"training {'diverged' if result.kind == 'diverged' else 'failed'}: "
                   f"{first_line(result.message)}")


def header_state(status: str, message: str = "") -> str:
    """The header state of a run read from its folder (``records`` statuses, and its message)."""
    if status == "did not learn":
        return WARNED
    if status in ("completed", "early stopped"):
        return FINISHED
    if status in ("failed", "diverged"):
        return FAILED
    if status == "running":
        return IDLE   # training in another process (the CLI): this window cannot pause or stop it
    return STOPPED


def pill_word(status: str, message: str = "") -> str:
    """The state pill's word where the header's own would not be exact."""
    if "did not learn" in message:
        return ""
    return {"completed": "Finished", "early stopped": "Stopped early", "diverged": "Diverged",
            "running": "Running elsewhere", "incomplete": "Incomplete"}.get(status, "")


def run_note(info) -> str:
    """A run folder's status and start, for the header's run line."""
    started = info.started_text()
    return f"{info.status}, {started}" if started and started != "–" else info.status


def folder_text(info) -> str:
    """The header's words for a run read from its folder."""
    parts = []
    if info.duration_s is not None:
        parts.append(f"trained for {format_duration(info.duration_s)}")
    best = info.best_text()
    if best != "–" and "best" not in (info.message or ""):   # the message may name it already
        parts.append(f"best {best}")
    head = (info.message[:1].upper() + info.message[1:]) if info.message else info.status.capitalize()
    return head + (f" ({', '.join(parts)})" if parts else "") + f"\nRun folder: {info.path}"


def learning_warning(graph_name: str, result: Finished) -> str:
    """The banner's words for a run that finished without learning."""
    *facts, advice = result.warnings
    return f"“{graph_name}” finished, but it did not learn: {' and '.join(facts)}. {advice[:1].upper()}{advice[1:]}."
