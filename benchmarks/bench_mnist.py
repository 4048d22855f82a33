"""Training speed at a real size: an MNIST-shaped workload, LayerLoom against a tight loop and Lightning.

The data is generated (no download): 60,000 training and 10,000 validation images of 1x28x28 floats in
[0, 1], 10 classes (a smooth pattern per class plus noise, so the networks learn something), written once
to an ``.npz`` file that every contender reads. The networks are the examples ``mnist_mlp``
(784-128-64-10) and ``mnist_cnn`` (two 3x3 convolutions, 16 and 32 channels, then 128-10), Adam 1e-3,
batch 64, the fused Adam kernel for everyone (LayerLoom uses it: ``layerloom.training.optim``).

Contenders, interleaved round by round in one process so a noisy machine hits all of them alike:

- ``layerloom``: ``TrainingSession.run()`` on this thread (the CLI's way) with a run folder: a CSV row
  and the ``last``/``best`` checkpoints every epoch, validation with every metric every epoch.
  *steps*: the training steps alone (the trainer's per-epoch ``train_s``);
  *run*: the whole run, from the graph file to the final summary (reading the data included).
- ``tight``: pre-loaded tensors batched by a shuffled index, forward, backward, fused Adam step.
  *steps*: its steps alone; *run*: reading the same ``.npz``, building the network, the epochs and a
  validation pass per epoch (loss, accuracy and confusion matrix, brought to the host).
- ``lightning`` (when ``lightning`` is installed: ``pip install -e '.[bench]'``): a ``LightningModule``
  with the same network and fused Adam, a shuffled ``DataLoader`` over the tensors, validation accuracy
  logged every epoch, its default checkpointing and a CSV logger; progress bar and model summary off.
  *steps* from its first batch to the start of validation, per epoch; *run* from reading the data to the
  end of ``fit``.
- CNN only: ``tight channels-last`` (the tight loop with its weights channels-last, the layout
  LayerLoom's ``memory_format: auto`` trains a CNN in on the CPU: the same kernels on both sides) and
  ``layerloom contiguous`` (LayerLoom with ``memory_format: contiguous``: the setting's own speed-up).
The MLP trains on all 60,000; the CNN, compute-bound at ~3,000 samples/s on this machine (contiguous),
on 6,000 by default (``--cnn-train 60000`` for the full size: its ratios were the same at 60,000, 2 epochs).

- ``--compile``: ``layerloom compiled`` (the ``compile`` setting on) and ``tight compiled``
  (``torch.compile`` on the network); and, with ``--examples``, each example graph's run with and
  without ``compile`` on its own dataset.

Figures are samples/s, the median over rounds with the range (min..max) over rounds; ratios are the
medians' ratios, with the range of the per-round ratios. Goals (issue 19): steps >= 0.95x tight, run
>= 0.9x tight, LayerLoom/Lightning >= 1.5x. Each thread count in ``--threads`` (default 1 and 2) is its
own table: torch's intra-op threads are set before each block.

Usage: python benchmarks/bench_mnist.py [--quick] [--rounds 3] [--epochs 5] [--models mlp,cnn] [--cnn-train N]
       [--threads 1,2] [--compile] [--examples] [--no-lightning]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from layerloom import load_graph  # noqa: E402
from layerloom.files.resources import example_path  # noqa: E402
from layerloom.training import EpochEnd, Finished, TrainingConfig, TrainingSession  # noqa: E402

EXAMPLES = {"mlp": "mnist_mlp", "cnn": "mnist_cnn"}
BATCH = 64


# ---------------------------------------------------------------------------------------------- data
def make_data(path: Path, train: int, val: int, seed: int = 0) -> None:
    """MNIST-shaped synthetic data: a smooth random pattern per class, shifted a little and noised."""
    rng = np.random.default_rng(seed)
    base = rng.random((10, 7, 7)).astype(np.float32)
    protos = np.kron(base, np.ones((4, 4), np.float32))  # 10 x 28 x 28, blocky class patterns

    def split(n):
        y = rng.integers(0, 10, n)
        x = 0.3 * protos[y] + 0.7 * rng.random((n, 28, 28), dtype=np.float32)
        return x.reshape(n, 1, 28, 28).astype(np.float32), y.astype(np.int64)

    x, y = split(train)
    x_val, y_val = split(val)
    np.savez(path, x=x, y=y, x_val=x_val, y_val=y_val)


def read_data(path: Path):
    with np.load(path) as z:
        return tuple(torch.from_numpy(z[k]) for k in ("x", "y", "x_val", "y_val"))


# ---------------------------------------------------------------------------------------------- networks
def network(model: str) -> nn.Module:
    torch.manual_seed(0)
    if model == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                             nn.Linear(64, 10))
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def adam(params) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=1e-3, fused=True)


# ---------------------------------------------------------------------------------------------- contenders
def run_layerloom(graph_name: str, data: Path, epochs: int, run_root: str, compile_: str = "off",
                  dataset: dict | None = None, memory_format: str = "auto") -> dict:
    start = time.perf_counter()
    graph = load_graph(example_path(graph_name))
    changes = {"epochs": epochs, "device": "cpu", "seed": 0}
    if data is not None:
        changes["dataset"] = dataset or {"path": str(data), "scaling": "none", "val_split": 0.0}
    if compile_ != "off":
        changes["compile"] = compile_
    if memory_format != "auto":
        changes["memory_format"] = memory_format
    config = TrainingConfig.from_graph(graph).replace(**changes)
    session = TrainingSession(graph, config, run_root=run_root, threads=torch.get_num_threads())
    session.run()
    wall = time.perf_counter() - start
    events = session.events.drain()
    result = session.result
    if not isinstance(result, Finished):
        raise SystemExit(f"LayerLoom run failed: {result}")
    train_s = sum(e.train_s for e in events if isinstance(e, EpochEnd))
    samples = session.plan.dataset.num_train * epochs
    history = session.trainer.history[-1]
    return {"steps": samples / train_s, "run": samples / wall,
            "acc": history.get("val_accuracy", history.get("val_loss"))}


def run_tight(model: str, data: Path, epochs: int, compiled: bool = False, channels_last: bool = False) -> dict:
    start = time.perf_counter()
    xtr, ytr, xva, yva = read_data(data)
    net = network(model)
    if channels_last:   # as a PyTorch expert tunes a CNN for the CPU: the weights NHWC, the rest follows
        net = net.to(memory_format=torch.channels_last)
    if compiled:
        net = torch.compile(net)
    loss_fn = nn.CrossEntropyLoss()
    opt = adam(net.parameters())
    gen = torch.Generator().manual_seed(0)
    train_s, acc = 0.0, 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        net.train()
        idx = torch.randperm(len(ytr), generator=gen)
        for i in range(0, len(idx), BATCH):
            j = idx[i:i + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xtr[j]), ytr[j])
            loss.backward()
            opt.step()
        train_s += time.perf_counter() - t0
        net.eval()  # the equivalent validation pass: loss, accuracy, confusion matrix, on the host
        with torch.no_grad():
            total, preds = torch.zeros(()), []
            for i in range(0, len(yva), 256):
                out = net(xva[i:i + 256])
                total += loss_fn(out, yva[i:i + 256]) * len(out)
                preds.append(out.argmax(1))
            pred = torch.cat(preds)
            confusion = torch.bincount(yva * 10 + pred, minlength=100).reshape(10, 10)
            acc = float(confusion.diagonal().sum()) / len(yva)
            _ = float(total) / len(yva), confusion.tolist()
    wall = time.perf_counter() - start
    samples = len(ytr) * epochs
    return {"steps": samples / train_s, "run": samples / wall, "acc": acc}


def lightning_available() -> bool:
    try:
        import lightning  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure: the peer is skipped
        return False
    return True


def run_lightning(model: str, data: Path, epochs: int, root: str) -> dict:
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.ERROR)   # its start-up tips and "GPU available" lines

    start = time.perf_counter()
    xtr, ytr, xva, yva = read_data(data)

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = network(model)
            self.loss_fn = nn.CrossEntropyLoss()

        def training_step(self, batch, _):
            x, y = batch
            return self.loss_fn(self.net(x), y)

        def validation_step(self, batch, _):
            x, y = batch
            out = self.net(x)
            self.log("val_loss", self.loss_fn(out, y))
            self.log("val_acc", (out.argmax(1) == y).float().mean())

        def configure_optimizers(self):
            return adam(self.parameters())

    class Clock(L.Callback):
        def __init__(self):
            self.train_s, self._t0 = 0.0, None

        def on_train_epoch_start(self, *_):
            self._t0 = time.perf_counter()

        def on_validation_start(self, trainer, *_):
            if self._t0 is not None and not trainer.sanity_checking:
                self.train_s += time.perf_counter() - self._t0
                self._t0 = None

    clock = Clock()
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xtr, ytr), batch_size=BATCH, shuffle=True)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xva, yva), batch_size=256)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, default_root_dir=root,
                            logger=CSVLogger(root), enable_progress_bar=False, enable_model_summary=False,
                            callbacks=[clock])
        module = Module()
        trainer.fit(module, train, val)
    wall = time.perf_counter() - start
    samples = len(ytr) * epochs
    return {"steps": samples / clock.train_s, "run": samples / wall,
            "acc": float(trainer.callback_metrics.get("val_acc", float("nan")))}


# ---------------------------------------------------------------------------------------------- report
def _range(values: list[float], fmt: str) -> str:
    return f"{format(min(values), fmt)}..{format(max(values), fmt)}"


def report(title: str, results: dict[str, list[dict]]) -> None:
    print(f"\n{title}")
    print(f"  {'contender':<22} {'steps samples/s':>16} {'(range)':>19}  {'run samples/s':>14} {'(range)':>19}  acc")
    for name, rows in results.items():
        steps, run = [r["steps"] for r in rows], [r["run"] for r in rows]
        acc = statistics.median(r["acc"] for r in rows)
        print(f"  {name:<22} {statistics.median(steps):>16,.0f} {_range(steps, ',.0f'):>19}  "
              f"{statistics.median(run):>14,.0f} {_range(run, ',.0f'):>19}  {acc:.3f}")
    pairs = [("layerloom", "tight", "goal steps >= 0.95x, run >= 0.9x"),
             ("layerloom", "lightning", "goal >= 1.5x"),
             ("layerloom", "tight channels-last", "the same layout in both"),
             ("layerloom", "layerloom contiguous", "memory_format auto's speed-up"),
             ("layerloom compiled", "layerloom", "compile speed-up"),
             ("tight compiled", "tight", "compile speed-up")]
    for a, b, goal in pairs:
        if a not in results or b not in results:
            continue
        parts = []
        for kind in ("steps", "run"):
            per_round = [x[kind] / y[kind] for x, y in zip(results[a], results[b])]
            ratio = statistics.median(r[kind] for r in results[a]) / statistics.median(r[kind] for r in results[b])
            parts.append(f"{kind} {ratio:.2f}x ({_range(per_round, '.2f')})")
        print(f"  {a} / {b}: {', '.join(parts)}   [{goal}]")


def bench_mnist(args, folder: Path, peer: bool) -> None:
    tmp = str(folder)
    sizes = {"mlp": (args.train, args.val), "cnn": (args.cnn_train, args.cnn_train // 6)}
    files = {}
    for model in args.models:
        files[model] = folder / f"mnist_shaped_{sizes[model][0]}.npz"
        if not files[model].exists():
            make_data(files[model], *sizes[model])
    for threads in args.threads:
        torch.set_num_threads(threads)
        for model in args.models:
            data = files[model]
            names = ["layerloom", "tight"] + (["lightning"] if peer else [])
            if model == "cnn":   # the layout LayerLoom picks for it, in the tight loop; and LayerLoom without it
                names += ["tight channels-last", "layerloom contiguous"]
            if args.compile:
                names += ["layerloom compiled", "tight compiled"]
            # warm-up: imports, first-call allocations, the compiler's caches
            run_layerloom(EXAMPLES[model], data, 1, tmp)
            run_tight(model, data, 1)
            results: dict[str, list[dict]] = {n: [] for n in names}
            for r in range(args.rounds):
                for name in names[r % len(names):] + names[:r % len(names)]:
                    if name == "layerloom":
                        out = run_layerloom(EXAMPLES[model], data, args.epochs, tmp)
                    elif name == "layerloom compiled":
                        out = run_layerloom(EXAMPLES[model], data, args.epochs, tmp, compile_="on")
                    elif name == "tight":
                        out = run_tight(model, data, args.epochs)
                    elif name == "tight channels-last":
                        out = run_tight(model, data, args.epochs, channels_last=True)
                    elif name == "layerloom contiguous":
                        out = run_layerloom(EXAMPLES[model], data, args.epochs, tmp, memory_format="contiguous")
                    elif name == "tight compiled":
                        out = run_tight(model, data, args.epochs, compiled=True)
                    else:
                        out = run_lightning(model, data, args.epochs, tmp)
                    results[name].append(out)
            report(f"{EXAMPLES[model]} ({model.upper()}), {sizes[model][0]:,} train / {sizes[model][1]:,} val, "
                   f"{args.epochs} epochs, batch {BATCH}, {threads} thread(s), {args.rounds} rounds", results)
            sys.stdout.flush()


def bench_examples(args, tmp: str) -> None:
    """The compile speed-up on each example graph with its own dataset (mnist ones excepted: no download)."""
    torch.set_num_threads(args.threads[0])
    for name in args.example_names.split(","):
        results: dict[str, list[dict]] = {"layerloom": [], "layerloom compiled": []}
        run_layerloom(name, None, 1, tmp)
        run_layerloom(name, None, 1, tmp, compile_="on")
        for r in range(args.rounds):
            order = list(results) if r % 2 == 0 else list(results)[::-1]
            for which in order:
                results[which].append(run_layerloom(name, None, args.example_epochs, tmp,
                                                    compile_="on" if which.endswith("compiled") else "off"))
        report(f"example {name}, {args.example_epochs} epochs, {args.threads[0]} thread(s), {args.rounds} rounds",
               results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="12,000 / 2,000 samples, 2 epochs, 2 rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--cnn-train", type=int, default=0,
                        help="CNN training samples (default 6,000 and a sixth of that for validation: the CNN "
                             "trains at ~3,000 samples/s here; 60000 for the full size)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--compile", action="store_true", help="also LayerLoom and the tight loop compiled")
    parser.add_argument("--examples", action="store_true", help="the compile speed-up on the example graphs")
    parser.add_argument("--example-epochs", type=int, default=10)
    parser.add_argument("--example-names", default="digits_mlp,digits_cnn,digits_residual,regression_mlp,sequence_lstm")
    parser.add_argument("--no-lightning", action="store_true")
    args = parser.parse_args()
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.epochs = args.epochs or (2 if args.quick else 5)
    args.train, args.val = (12_000, 2_000) if args.quick else (60_000, 10_000)
    args.cnn_train = args.cnn_train or (3_000 if args.quick else 6_000)
    args.models = [m for m in args.models.split(",") if m]
    args.threads = [int(t) for t in args.threads.split(",") if t]
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    peer = not args.no_lightning and lightning_available()
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, "
          f"lightning {'installed' if peer else 'not installed: the peer is skipped'}; no GPU measured")
    with tempfile.TemporaryDirectory() as tmp:
        if args.models:
            bench_mnist(args, Path(tmp), peer)
        if args.examples:
            bench_examples(args, tmp)


if __name__ == "__main__":
    main()
