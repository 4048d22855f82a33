"""Check the built bundle (``make bundle-check``): time three plain starts of its executable and run
its ``--self-test``, headless, from an empty folder with a bare environment; print the bundle's size,
the start-up times and the self-test's report. Exits non-zero when the bundle is missing, does not
start, or fails its self-test.

    .venv/bin/python packaging/check_bundle.py [BUNDLE_FOLDER]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_bundle import BUNDLE, executable, folder_bytes  # noqa: E402

REPORT_PREFIX = "self-test report: "
SHOWN_PREFIX = "self-test: window shown"


def bare_environment(home: str) -> dict[str, str]:
    """Offscreen, a fresh home (no settings, no plugins), nothing of this checkout or its venv."""
    if sys.platform == "win32":
        return dict(os.environ, QT_QPA_PLATFORM="offscreen", USERPROFILE=home)  # Windows needs its variables
    return {"QT_QPA_PLATFORM": "offscreen", "HOME": home, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def time_plain_start(program: Path, runs: int = 3, limit: float = 120.0) -> list[float]:
    """Seconds from launch to exit of ``program --screenshot``: start, open the digits MLP example,
    paint the window once, save it, quit. The self-test's own start is slower: the example plugins
    it loads import torch, which a plain start does not."""
    times = []
    for _ in range(runs):
        home = tempfile.mkdtemp(prefix="layerloom-bundle-check-")
        began = time.perf_counter()
        done = subprocess.run([str(program.resolve()), "--screenshot", str(Path(home) / "shot.png")], cwd=home,
                              env=bare_environment(home), capture_output=True, text=True, timeout=limit)
        seconds = time.perf_counter() - began
        shot = Path(home) / "shot.png"
        ok = done.returncode == 0 and shot.is_file() and shot.stat().st_size > 5000
        shutil.rmtree(home, ignore_errors=True)
        if not ok:
            raise RuntimeError(f"{program} --screenshot failed (exit {done.returncode}): {done.stderr[-2000:]}")
        times.append(seconds)
    return times


def run_self_test(program: Path, limit: float = 600.0) -> dict:
    """Run ``program --self-test`` offscreen, relaying its lines; the JSON report, with
    ``startup_s`` (launch to the window shown, measured here) and ``wall_s`` added. It runs in an
    empty folder with a bare environment, so nothing of this checkout or its venv can help it."""
    home = tempfile.mkdtemp(prefix="layerloom-bundle-check-")
    env = bare_environment(home)
    began = time.perf_counter()
    process = subprocess.Popen([str(program.resolve()), "--self-test"], stdout=subprocess.PIPE, text=True, env=env,
                               cwd=home)
    report, startup = None, None
    for line in process.stdout:
        if line.startswith(SHOWN_PREFIX) and startup is None:
            startup = time.perf_counter() - began
        if line.startswith(REPORT_PREFIX):
            report = json.loads(line[len(REPORT_PREFIX):])
        else:
            print(f"  | {line}", end="", flush=True)
        if time.perf_counter() - began > limit:
            process.kill()
            break
    code = process.wait()
    shutil.rmtree(home, ignore_errors=True)
    report = report or {"ok": False, "error": "the self-test printed no report"}
    report.update(exit_code=code, startup_s=startup, wall_s=time.perf_counter() - began)
    if code != 0:
        report["ok"] = False
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=BUNDLE, help=f"the bundle folder (default {BUNDLE})")
    bundle = parser.parse_args(argv).bundle
    program = executable(bundle)
    if not program.is_file():
        print(f"check_bundle: no bundle at {program}: run `make bundle` first", file=sys.stderr)
        return 2
    size = folder_bytes(bundle)
    print(f"check_bundle: {program} --screenshot, 3 times (QT_QPA_PLATFORM=offscreen)", flush=True)
    try:
        starts = time_plain_start(program)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"check_bundle: FAILED: a plain start: {exc}", file=sys.stderr)
        return 1
    print(f"check_bundle: {program} --self-test (QT_QPA_PLATFORM=offscreen)", flush=True)
    report = run_self_test(program)
    print(f"check_bundle: bundle size       {size / 2**20:,.0f} MiB ({bundle})")
    print(f"check_bundle: start-up          {min(starts):.2f} s best, {sorted(starts)[len(starts) // 2]:.2f} s "
          "median: launch, window painted, screenshot saved, exit (--screenshot)")
    if report.get("startup_s") is not None:
        print(f"check_bundle: self-test start   {report['startup_s']:.2f} s from launch to the window shown "
              "(example plugins loaded: torch imported)")
    if report.get("onnx_max_abs_diff") is not None:
        print(f"check_bundle: ONNX max diff     {report['onnx_max_abs_diff']:.2e}")
    print(f"check_bundle: self-test         {report['wall_s']:.1f} s in all, exit code {report['exit_code']}")
    if not report["ok"]:
        print(f"check_bundle: FAILED: {report.get('failed_step', '')}: {report.get('error', '')}", file=sys.stderr)
        return 1
    print("check_bundle: PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
