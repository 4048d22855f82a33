"""How many torch CPU threads a run trains with, and why.

Torch's default (one intra-op thread per core) is the fastest choice on an idle machine for big
enough operations, and a collapse on a busy one: with other processes running on 2 cores, 2 OpenMP
threads made a training step take 747 ms against 15.5 ms with 1 thread (the threads wait for each
other at every parallel region while one of them is descheduled). Small models gain nothing from a
second thread even on an idle machine. So the count is measured, not guessed:

1. An explicit choice wins: the ``threads`` a caller passes (the CLI's ``--threads N``), then
   ``OMP_NUM_THREADS``.
2. Off the CPU (CUDA, MPS), or with one core, the count hardly matters: all cores but one.
3. Else a short calibration on the run's own model and batch size (``choose_threads``, ``pick_faster``):
   a copy of the model and a fresh optimizer train on the first batch. A few steps at 1 thread come
   first; a run they put under ``SHORT_RUN_S`` keeps 1 (measuring more would cost what it could
   save). Then one small parallel operation timed at 1 and all cores shows a busy machine at once,
   for the price of a few milliseconds rather than a collapsed step; else steps at all cores and at 1
   alternate, the first step at all cores over ``GIVE_UP`` times the 1-thread step ending the
   measuring. All cores are kept only when clearly faster (``MARGIN``). The run itself is untouched:
   its weights, optimizer and random streams are not used (``torch.random.fork_rng``), so the same
   seed gives the same run as one given the chosen count outright.

Determinism: torch does not promise bit-identical CPU results across thread counts (a reduction split
over threads adds in another order), so a run records its thread count (config.json's ``device``)
and the same seed with the same count repeats the run exactly.

A count above 1 stays watched during the run (``ThreadGuard``): when the machine gets busy and the
steps slow down to a third of the best speed seen, the run drops to 1 thread for good.

``ThreadChoice`` is what a run reports: the count, where it came from and a phrase for people:
"1 thread (faster than 2 on this busy machine)".
"""

from __future__ import annotations

import copy
import dataclasses
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

EXPLICIT, ENVIRONMENT, MEASURED, DEFAULT = "explicit", "environment", "measured", "default"

CALIBRATION_ROUNDS = 3     # rounds of (N threads, 1 thread) steps
STEPS_PER_ROUND = 3        # timed steps per count and round (after one untimed warm-up step)
MARGIN = 0.8               # N threads are kept only when their step takes under 0.8x the 1-thread step
GIVE_UP = 3.0              # an N-thread step (or probe) over 3x the 1-thread one ends the measuring: N loses
PROBES = 3                 # probes timed at each count, at most (one fast probe at ``many`` ends them)
SHORT_RUN_S = 2.0          # a run expected to take under 2 s at 1 thread keeps 1: measuring would cost its gain
BUDGET_S = 1.0             # at most this long measuring steps ...
BUDGET_SHARE = 0.03        # ... and at most this share of the run's expected length at 1 thread


@dataclass(frozen=True)
class ThreadChoice:
    """The torch thread count a run trains with. ``source``: explicit, environment, measured or default;
    ``step_s``: the measured seconds per step for each count tried (measured only)."""

    threads: int
    source: str
    reason: str                        # "faster than 2 on this busy machine", "as asked"
    step_s: dict = field(default_factory=dict)
    cost_s: float = 0.0                # how long choosing took (measuring, on copies)

    def describe(self) -> str:
        """'1 thread (faster than 2 on this busy machine)'."""
        return thread_text(self.threads, self.reason)

    def to_dict(self) -> dict:
        return {"threads": self.threads, "source": self.source, "reason": self.reason,
                **({"step_ms": {str(k): round(v * 1000, 3) for k, v in self.step_s.items()},
                    "cost_s": round(self.cost_s, 4)} if self.step_s else {})}


def thread_text(threads: int, reason: str = "") -> str:
    """'1 thread (faster than 2 on this busy machine)', '4 threads'."""
    count = f"{threads} thread{'s' if threads != 1 else ''}"
    return f"{count} ({reason})" if reason else count


def cores() -> int:
    """The machine's cores (``os.cpu_count``), at least 1."""
    return max(1, os.cpu_count() or 1)


def parse_threads(text: str | int | None) -> int | None:
    """``auto`` (or None, or 0) -> None (the policy decides); a positive count -> that count.
    Raises ``ValueError`` for anything else."""
    if text is None:
        return None
    if isinstance(text, int):
        value = text
    else:
        text = str(text).strip().lower()
        if text in ("", "auto"):
            return None
        if not text.lstrip("-").isdigit():
            raise ValueError(f"threads must be 'auto' or a whole number, got {text!r}")
        value = int(text)
    if value < 0:
        raise ValueError(f"threads must be 'auto' or at least 1, got {value}")
    return value or None


def environment_threads() -> int | None:
    """``OMP_NUM_THREADS`` when it holds a positive count."""
    requested = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(requested) if requested.isdigit() and int(requested) > 0 else None


def explicit_choice(requested: int | None) -> ThreadChoice | None:
    """The choice a person made (an argument, then ``OMP_NUM_THREADS``), or None: the policy decides."""
    if requested:
        return ThreadChoice(int(requested), EXPLICIT, "as asked" + _oversubscribed(int(requested)))
    env = environment_threads()
    if env:
        return ThreadChoice(env, ENVIRONMENT, "OMP_NUM_THREADS" + _oversubscribed(env))
    return None


def _oversubscribed(threads: int) -> str:
    """The warning a count above the machine's cores earns (threads then wait for each other: 64 on 2
    cores trained the digits CNN 10-70x slower than 1)."""
    many = cores()
    return f"; more than this machine's {many} cores, so likely much slower" if threads > many else ""


def fallback_choice(reason: str = "") -> ThreadChoice:
    """Without a measurement: all cores but one (kept for the window or the caller), at least 1."""
    return ThreadChoice(max(1, cores() - 1), DEFAULT, reason)


def pick_faster(step: Callable[[], None], many: int, *, set_threads: Callable[[int], None],
                timer: Callable[[], float] = time.perf_counter, probe: Callable[[], None] | None = None,
                rounds: int = CALIBRATION_ROUNDS, steps: int = STEPS_PER_ROUND,
                budget_s: float = BUDGET_S, run_steps: int | None = None) -> ThreadChoice:
    """Time ``step`` at 1 and ``many`` threads and keep the faster count.

    1. One untimed warm-up step at 1 thread, then ``steps`` timed ones: the 1-thread figure.
       A run of ``run_steps`` that this puts under ``SHORT_RUN_S`` keeps 1 thread: measuring more
       would cost about what it could save.
    2. ``probe`` (one small parallel operation, much cheaper than a step) timed a few times at each
       count: when ``many`` threads take over ``GIVE_UP`` times as long, the machine is busy and 1 wins
       without a single step at ``many`` (on a busy machine such a step can cost 50 of them at 1).
    3. Else interleaved rounds of ``steps`` steps at ``many`` and at 1, each step at ``many`` timed alone:
       one over ``GIVE_UP`` times the 1-thread figure ends the measuring (1 wins), as does ``budget_s``.

    A count's figure is the median of its per-step times. ``many`` wins only under ``MARGIN`` of the
    1-thread figure: fewer threads leave cores to the rest of the machine and never collapse.
    ``timer`` and ``set_threads`` are injectable for tests."""
    started = timer()
    times: dict[int, list[float]] = {1: [], many: []}

    def timed(count: int, repeat: int, action: Callable[[], None], out: list[float]) -> None:
        set_threads(count)
        for _ in range(repeat):
            begin = timer()
            action()
            out.append(timer() - begin)

    set_threads(1)
    step()                                      # warm-up: caches fill, lazy set-up happens
    timed(1, steps, step, times[1])
    one = statistics.median(times[1])
    if run_steps is not None and one * run_steps < SHORT_RUN_S:
        set_threads(1)
        return ThreadChoice(1, MEASURED, "enough for a short run", {1: one})
    if run_steps is not None:
        budget_s = min(budget_s, BUDGET_SHARE * one * run_steps)
    busy = False
    if probe is not None:
        probes: dict[int, list[float]] = {1: [], many: []}
        timed(many, 1, probe, [])               # the pool's threads start
        for _ in range(PROBES):
            for count in (1, many):
                timed(count, 1, probe, probes[count])
            busy = min(probes[many]) > GIVE_UP * min(probes[1])   # every probe at ``many`` so far was slow
            if not busy:
                break
    for _ in range(0 if busy else rounds):
        set_threads(many)
        for _ in range(steps):
            begin = timer()
            step()
            times[many].append(timer() - begin)
            if times[many][-1] > GIVE_UP * one:
                busy = True
                break
        if busy or timer() - started > budget_s:
            break
        timed(1, steps, step, times[1])
        one = statistics.median(times[1])
    figures = {1: one}
    if times[many]:
        figures[many] = statistics.median(times[many])
    other = figures.get(many)
    if other is not None and not busy and other < MARGIN * one:
        choice = ThreadChoice(many, MEASURED, f"{one / other:.1f}x as fast as 1 on this machine", figures)
    elif busy or (other is not None and other > 1.5 * one):
        choice = ThreadChoice(1, MEASURED, f"faster than {many} on this busy machine", figures)
    elif other is not None and other > one:
        choice = ThreadChoice(1, MEASURED, f"faster than {many} on this machine", figures)
    else:
        choice = ThreadChoice(1, MEASURED, f"as fast as {many} on this machine", figures)
    set_threads(choice.threads)
    return choice


def parallel_probe() -> Callable[[], None]:
    """One parallel operation, big enough that torch splits it over its threads (about 0.2 ms on one
    core): with a busy machine, the threads' wait for each other shows on it alone."""
    import torch

    buffer = torch.zeros(1 << 20)

    def probe() -> None:
        buffer.add_(1.0)

    return probe


def calibration_step(plan, seed: int = 0) -> Callable[[], None]:
    """One training step of ``plan`` on copies: its model (``plan.compiled.criterion``) deep-copied, a
    fresh optimizer of its settings, the first batch of its training split. Nothing of the run is
    changed. Raises what building them raises (the caller falls back)."""
    import torch

    from layerloom.training.batches import Split
    from layerloom.training.memory_format import CONTIGUOUS, apply_layout, choose_layout
    from layerloom.training.optim import build_optimizer

    config = plan.config
    size = max(2, min(int(config.batch_size), plan.dataset.num_train))
    cpu = torch.device("cpu")
    xs = [x[:size] for x in plan.features("train")]
    ys = [y[:size] for y in plan.labels("train")]
    batch_x, batch_y = next(iter(Split(xs, ys, cpu).batches(size, torch.Generator().manual_seed(seed), 1)))
    model = copy.deepcopy(plan.compiled.criterion).to(cpu).train()
    layout = choose_layout(config.memory_format, model, cpu)   # as the run trains (before it measures its own)
    apply_layout(model, CONTIGUOUS if layout.measure else layout.memory_format)
    optimizer = build_optimizer(config.optimizer, model.parameters(), cpu)

    def step() -> None:
        loss = model(*batch_x, *batch_y)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _run_steps(plan) -> int:
    """The steps the run will train (about: a resumed run trains fewer)."""
    config = plan.config
    return config.steps or config.epochs * max(1, -(-plan.dataset.num_train // max(1, int(config.batch_size))))



def choose_threads(requested: int | None = None, plan=None, *, device: str = "cpu") -> ThreadChoice:
    """The thread count for a run of ``plan`` on ``device`` (see the module's doc), set on the calling
    thread (torch's intra-op count is per thread) before it returns."""
    import torch

    choice = explicit_choice(requested)
    if choice is None:
        many = cores()
        if device != "cpu":
            choice = fallback_choice(f"training on {device.upper()}")
        elif many == 1:
            choice = ThreadChoice(1, DEFAULT, "one core")
        elif plan is None:
            choice = fallback_choice()
        else:
            started = time.perf_counter()
            try:
                step = calibration_step(plan, plan.config.seed)
                with torch.random.fork_rng(devices=[]):
                    choice = pick_faster(step, many, set_threads=torch.set_num_threads, probe=parallel_probe(),
                                         run_steps=_run_steps(plan))
                choice = dataclasses.replace(choice, cost_s=time.perf_counter() - started)
            except Exception as exc:  # noqa: BLE001 - measuring is an optimisation: never a reason to fail
                choice = fallback_choice(f"not measured: {type(exc).__name__}")
    torch.set_num_threads(choice.threads)
    return choice


class ThreadGuard:
    """Watches a run that trains with more than one thread: ``seen(samples_per_s)`` with each ``Step``
    event's speed returns the new choice (1 thread) when ``SLOW_STEPS`` reports in a row ran under
    1/``GIVE_UP`` of the best speed seen (or of the calibrated one), else None. Called on the training
    thread, whose count the caller then sets. One drop at most: 1 thread never collapses. A count a
    person chose (``--threads``, ``OMP_NUM_THREADS``) is never changed."""

    SLOW_STEPS = 2

    def __init__(self, choice: ThreadChoice, batch_size: int):
        self.choice = choice
        measured = choice.step_s.get(choice.threads) if choice.step_s else None
        self.best = batch_size / measured if measured else 0.0
        self._slow = 0
        self.active = choice.threads > 1 and choice.source in (MEASURED, DEFAULT)   # a person's choice stays

    def seen(self, samples_per_s: float) -> ThreadChoice | None:
        if not self.active or samples_per_s <= 0:
            return None
        if samples_per_s * GIVE_UP < self.best:
            self._slow += 1
        else:
            self._slow = 0
            self.best = max(self.best, samples_per_s)
        if self._slow < self.SLOW_STEPS:
            return None
        self.active = False
        many = self.choice.threads
        self.choice = ThreadChoice(1, MEASURED, f"{many} slowed down {self.best / samples_per_s:.0f}x: "
                                                f"the machine got busy", self.choice.step_s)
        return self.choice
