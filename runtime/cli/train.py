"""``layerloom-cli train`` and ``layerloom-cli datasets``.

The same ``TrainingSession`` as the editor's, run on the main thread; its events draw a progress bar
(samples/s, ETA) and print one line of metrics per epoch.
Exit status: 0 trained, 1 the graph/dataset/settings are refused or the run failed or diverged,
2 the file cannot be read, 130 interrupted (Ctrl-C, or SIGTERM from a job scheduler or ``kill``, stops
cleanly after the current step: summary.json says stopped and the last checkpoint is kept).
"""

from __future__ import annotations

import sys
from pathlib import Path

EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_parsers(sub) -> None:
    train = sub.add_parser(
        "train", help="train a graph on a dataset and save the run folder",
        description="Train a graph with the settings in its file's training section (overridden by the "
                    "options below). Writes runs/<name>-<time>/ with metrics.csv, config.json, the graph "
                    "and checkpoints. Exit 1 when training cannot start or fails, 2 if the file is unreadable.")
    train.add_argument("file", nargs="?", help="a graph file (.llgraph.json); omit with --resume")
    train.add_argument("--dataset", metavar="NAME|PATH",
                       help="a built-in dataset (see `layerloom-cli datasets`) or a CSV/NPZ/IDX file or image folder")
    train.add_argument("--target-column", metavar="COLUMN", help="CSV: the label column (name or index)")
    train.add_argument("--val-split", type=float, metavar="FRACTION",
                       help="fraction of the samples held out for validation (when the data has no validation split)")
    train.add_argument("--scaling", choices=("auto", "standardize", "minmax", "none"),
                       help="feature scaling (auto: by the value range for pixels, per channel for images, "
                            "per feature for tables and signals)")
    train.add_argument("--epochs", type=int, metavar="N")
    train.add_argument("--steps", type=int, metavar="N", help="stop after N optimizer steps (0: train for epochs)")
    train.add_argument("--batch-size", type=int, metavar="N")
    train.add_argument("--lr", type=float, metavar="RATE", help="learning rate")
    train.add_argument("--optimizer", choices=("sgd", "adam", "adamw", "rmsprop"))
    train.add_argument("--seed", type=int, metavar="N")
    train.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    train.add_argument("--precision", choices=("fp32", "bf16", "fp16"), help="mixed precision (CUDA)")
    train.add_argument("--compile", choices=("off", "on", "auto"),
                       help="run the network through torch.compile (auto: on CUDA); falls back with a note")
    train.add_argument("--memory-format", choices=("auto", "channels_last", "contiguous"),
                       help="tensor layout for 2-D convolutions (auto: channels_last on the CPU, and on CUDA "
                            "with bf16/fp16)")
    train.add_argument("--out", default="runs", metavar="DIR", help="where run folders go (default: ./runs)")
    train.add_argument("--no-save", action="store_true", help="write no run folder")
    train.add_argument("--resume", metavar="RUN", help="continue a run folder (or checkpoint) from its last checkpoint")
    train.add_argument("--threads", default="auto", metavar="auto|N",
                       help="torch CPU threads (default auto: OMP_NUM_THREADS if set, else the faster of 1 and "
                            "all cores, measured on the run's first steps)")
    train.add_argument("--quiet", "-q", action="store_true", help="no progress bar, only the final line")
    train.set_defaults(run=cmd_train)

    datasets = sub.add_parser("datasets", help="list the built-in datasets",
                              description="The built-in datasets, and for those downloaded on request "
                                          "(`layerloom-cli download NAME`) whether they are on disk.")
    datasets.set_defaults(run=cmd_datasets)


def cmd_datasets(args) -> int:
    from layerloom.data import BUILTINS
    from layerloom.data.downloads import download_note

    for name, info in BUILTINS.items():
        shape = "[" + ", ".join(str(d) for d in info.feature_shape) + "]"
        classes = f", {info.num_classes} classes" if info.num_classes else ""
        print(f"  {name:<14}{info.task}, samples {shape}{classes}: {info.title}{download_note(info)}")
    return EXIT_OK


def _overrides(args) -> dict:
    changes: dict = {}
    for key in ("epochs", "steps", "batch_size", "seed", "device", "precision", "compile", "memory_format"):
        value = getattr(args, key)
        if value is not None:
            changes[key] = value
    optimizer = {}
    if args.lr is not None:
        optimizer["lr"] = args.lr
    if args.optimizer is not None:
        optimizer["name"] = args.optimizer
    if optimizer:
        changes["optimizer"] = optimizer
    dataset: dict = {}
    if args.dataset is not None:
        from layerloom.data import BUILTINS
        if args.dataset in BUILTINS:
            dataset.update(name=args.dataset, path=None)
        else:
            dataset["path"] = str(Path(args.dataset).resolve())
    if args.target_column is not None:
        dataset["target_column"] = args.target_column
    if args.val_split is not None:
        dataset["val_split"] = args.val_split
    if args.scaling is not None:
        dataset["scaling"] = args.scaling
    if dataset:
        changes["dataset"] = dataset
    return changes


def cmd_train(args) -> int:
    from layerloom.core.errors import GraphFileError, LayerLoomError
    from layerloom.files.graphfile import load_graph
    from layerloom.training import TrainingConfig, TrainingSession

    from layerloom.training.threads import parse_threads

    try:
        threads = parse_threads(args.threads)
    except ValueError:
        print(f"error: --threads must be at least 1 (or auto), got {args.threads}", file=sys.stderr)
        return EXIT_PROBLEMS
    if threads is None and args.threads.strip().lower() != "auto":
        print(f"error: --threads must be at least 1 (or auto), got {args.threads}", file=sys.stderr)
        return EXIT_PROBLEMS
    if not args.file and not args.resume:
        print("error: give a graph file to train, or --resume RUN", file=sys.stderr)
        return EXIT_PROBLEMS
    changes = _overrides(args)
    if args.resume and (args.file or set(changes) - {"epochs", "steps"}):
        print("error: --resume continues a run with its own graph and settings; only --epochs may change (or "
              "--steps, for a run given in steps), and --threads and --out say how and where it runs; start a "
              "new run to change anything else", file=sys.stderr)
        return EXIT_PROBLEMS
    graph, base_dir = None, None
    try:
        if args.file:
            graph = load_graph(args.file)
            base_dir = Path(args.file).resolve().parent
            config = TrainingConfig.from_graph(graph)
            if changes:
                config = config.replace(**changes)
        else:
            config = TrainingConfig().replace(**changes) if changes else None
    except GraphFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except LayerLoomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    printer = _Printer(quiet=args.quiet)
    session = TrainingSession(graph, config, run_root=None if args.no_save else args.out, base_dir=base_dir,
                              resume=args.resume, listeners=(printer.show,), queue_events=False,
                              source=Path(args.file).resolve() if args.file else None, threads=threads)
    # The run happens on this thread: measured on 2 cores, torch's OpenMP threads are fastest on the
    # main thread (a worker thread is what the editor uses, to keep its window responsive).
    interrupted = []

    def on_interrupt(signum, frame):
        if interrupted:  # a second Ctrl-C: give up waiting for the step to end
            raise KeyboardInterrupt
        interrupted.append(True)
        import signal
        what = "terminated" if signum == signal.SIGTERM else "interrupted"
        printer.note(f"{what}: stopping after this step (Ctrl-C again to abort)", err=True)
        session.stop()

    previous = _set_stop_signals(on_interrupt)
    try:
        result = session.run()
    finally:
        _set_stop_signals(previous)
        printer.close()
    from layerloom.training import Finished
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if isinstance(result, Finished) else EXIT_PROBLEMS


def _set_stop_signals(handlers):
    """Install ``handlers`` (one function, or what an earlier call returned) for SIGINT and SIGTERM when
    this is the main thread (tests call main() from others); returns the handlers they replace."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread() or handlers is None:
        return None
    if callable(handlers):
        handlers = {signal.SIGINT: handlers, signal.SIGTERM: handlers}
    # (a handler installed from C reads as None and cannot be put back: it is left to the process's end)
    return {signum: signal.signal(signum, handler) for signum, handler in handlers.items() if handler is not None}


class _Printer:
    """Turns events into terminal output: a tqdm bar over the whole run's samples and a line per epoch."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.bar = None
        self.started = None

    def note(self, text: str, err: bool = False) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr if err else sys.stdout)
        else:
            print(text, file=sys.stderr if err else sys.stdout, flush=True)

    def show(self, event) -> None:
        from layerloom.training import (CheckpointSaved, EpochEnd, Failed, Finished, Note, Paused, Preparing,
                                        RunStarted, Step, Stopped)

        if isinstance(event, RunStarted):
            self._started(event)
        elif isinstance(event, Step):
            if self.bar is not None:
                done = min(self.total, round(event.progress * self.total))
                self.bar.set_description(f"epoch {event.epoch}/{self.started.epochs}", refresh=False)
                self.bar.set_postfix_str(f"loss {event.loss:.4f}", refresh=False)
                self.bar.update(done - self.bar.n)
        elif isinstance(event, EpochEnd):
            if not self.quiet:
                self.note(_epoch_line(event, self.started.epochs))
        elif isinstance(event, Note):
            self.note(f"note (epoch {event.epoch}, step {event.step:,}): {event.text}")
        elif isinstance(event, Finished):
            self.close()
            print(event.message + _test_text(event.test))
            if event.run_dir:
                print(f"run saved to {event.run_dir}")
        elif isinstance(event, Stopped):
            self.close()
            print(event.message)
        elif isinstance(event, Failed):
            self.close()
            self._failed(event)
        elif isinstance(event, (CheckpointSaved, Paused, Preparing)):
            pass  # set-up stages: the lines RunStarted prints say what was loaded, on which device

    def _started(self, event) -> None:
        from layerloom.training.memory_format import layout_text

        self.started = event
        if not self.quiet:
            print(f"training on {event.device_name}" + (f", {event.precision}" if event.precision != "fp32" else ""))
            if event.device == "cpu" and event.threads:
                print(f"threads: {event.threads}" + (f" ({event.threads_reason})" if event.threads_reason else ""))
            layout = layout_text(event.memory_format, event.memory_format_reason)
            if layout:
                print(f"layout: {layout}")
            setting = event.config.get("compile", "off")
            fell_back = any(note.startswith("compile:") for note in event.notes)
            if (setting == "on" or (setting == "auto" and event.device == "cuda")) and not fell_back:
                print("compile: torch.compile (set-up compiled it; a batch of a new shape, such as an epoch's "
                      "last, compiles again, so the first epoch is slower)")
            print(f"dataset: {event.dataset}")
            steps = event.config.get("steps") or 0
            length = f"{steps:,} steps ({event.steps_per_epoch} an epoch)" if steps else \
                f"{_count(event.epochs, 'epoch')} of {_count(event.steps_per_epoch, 'step')}"
            print(f"model: {event.parameters:,} parameters; {length}")
            if event.run_dir:
                print(f"run folder: {event.run_dir}")
            for note in event.notes:
                print(f"note: {note}")
        from tqdm import tqdm
        self.total = event.epochs * event.num_train
        self.bar = tqdm(total=self.total, initial=event.start_epoch * event.num_train, unit=" samples",
                        unit_scale=True, dynamic_ncols=True, leave=False, disable=True if self.quiet else None)

    def _failed(self, event) -> None:
        if event.problems:
            print("error: cannot train:", file=sys.stderr)
            for problem in event.problems:
                where = f" [param {problem.param}]" if problem.param else ""
                print(f"  {problem.describe()}{where}", file=sys.stderr)
            return
        print(f"error: {event.message}", file=sys.stderr)
        if event.kind == "error" and event.traceback:
            print(event.traceback.rstrip(), file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


_SHORT = {"loss": "loss", "accuracy": "acc", "f1": "f1", "mae": "mae", "rmse": "rmse", "r2": "r2"}


def _epoch_line(event, epochs: int) -> str:
    """``epoch  3/20  loss 0.4522 acc 0.8984 | val loss 0.3773 acc 0.9167 f1 0.9189 | lr 0.001 0.03s *``
    (precision and recall are in metrics.csv)."""
    width = len(str(epochs))
    groups = []
    for split, title in (("train", ""), ("val", "val ")):
        items = [f"{_SHORT[name]} {event.metrics[f'{split}_{name}']:.4f}" for name in _SHORT
                 if f"{split}_{name}" in event.metrics]
        if items:
            groups.append(title + " ".join(items))
    groups.append(f"lr {event.lr:.3g} {event.duration_s:.2f}s" + (" *" if event.improved else ""))
    return f"epoch {event.epoch:>{width}}/{epochs}  " + " | ".join(groups)


def _test_text(test: dict) -> str:
    if not test:
        return ""
    return "; " + ", ".join(f"{k} {v:.4f}" for k, v in test.items())


def _count(number: int, noun: str) -> str:
    """'1 epoch', '20 epochs', '1,437 steps'."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
