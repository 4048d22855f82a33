"""The torchrun script trains in the graph's precision and layout: mixed precision on CUDA (fp32 on a CPU,
said so), channels-last for 2-D convolutions where asked. One process, without torchrun (the
environment torchrun would set), a convolutional graph, one epoch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from layerloom.export import load_exportable
from layerloom.export.ddp import export_ddp
from layerloom.files.resources import example_path
from layerloom.training import load_checkpoint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_script_trains_a_cnn_channels_last_and_says_what_it_used(tmp_path):
    folder = tmp_path / "ddp"
    script = export_ddp(load_exportable(example_path("digits_cnn")), folder)
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(_free_port()), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(folder)}
    (folder / "sitecustomize.py").write_text("import sys\nsys.modules['layerloom'] = None\n")   # not needed
    result = subprocess.run([sys.executable, script.name, "--epochs", "1", "--memory-format", "channels_last",
                             "--precision", "bf16"], cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "precision bf16 applies on CUDA: training in fp32 here" in result.stdout
    assert "training on 1 process(es), cpu, channels-last, 1,437 samples" in result.stdout
    checkpoint = load_checkpoint(folder / "checkpoints" / "last.pt")
    assert checkpoint["epoch"] == 1 and checkpoint["metrics"]["val_accuracy"] > 0.1
