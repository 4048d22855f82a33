"""Running plugin code so that it cannot hang, end or garble LayerLoom.

Every call into a plugin (importing it, and its ``infer``, ``count_params``, ``build``, ``emit`` and
port functions) goes through ``guarded``:

- **a time limit**, ``LAYERLOOM_PLUGIN_TIMEOUT`` seconds (5 by default; 0 turns it off, for stepping
  through a plugin in a debugger). On the main thread a ``SIGALRM`` timer raises ``PluginTimeout`` in
  the plugin's code, which stops Python loops and ``time.sleep``. Elsewhere (worker threads, Windows) a
  watchdog thread raises it asynchronously in the running thread (``PyThreadState_SetAsyncExc``), which
  stops Python loops but waits for a blocking call to return; an *import* there runs in a daemon thread
  that is abandoned when its time is up. Code stuck inside C (a native busy loop holding the GIL)
  cannot be interrupted from Python at all.
- **a grace for imports in progress**: stopping a library half way through its import (``import
  torch`` on a busy machine can take seconds) would leave it broken for the whole process, so while the
  plugin is importing another module the limit stretches, up to ``GRACE_FACTOR`` times.
- **no exits**: ``SystemExit``, a ``KeyboardInterrupt`` the plugin raises itself, and any other
  ``BaseException`` become a report about the plugin. A real Ctrl-C (a SIGINT that arrived while the
  plugin ran) still stops the program: the user asked for that, and a plugin cannot fake it.
- **no output on stdout**: what plugin code prints goes to stderr, so ``--json`` output stays clean.

Built-in node types never pass through here (``NodeSpec`` calls plugin code only through it), so the
cost is paid by plugin nodes alone: a few system calls per call.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import sys
import threading
import time
import traceback

from layerloom.core.errors import LayerLoomError

ENV = "LAYERLOOM_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT = 5.0
GRACE_FACTOR = 6          # how much longer plugin code may take while it imports another module
_GRACE_STEP = 0.25        # seconds between looks while the grace lasts
_POLL = 0.05              # the watchdog's look interval while a watched call runs


class PluginTimeout(BaseException):
    """Raised inside plugin code whose time is up. A ``BaseException``, so a plugin's ``except
    Exception`` does not swallow it."""


class PluginError(LayerLoomError):
    """Plugin code that did not return in time, tried to end the program, or returned something
    LayerLoom cannot use. The message names the plugin and the function."""


class Escaped(Exception):
    """What ``guarded`` raises when plugin code did not finish normally: it ran out of time
    (``timed_out``) or raised a ``BaseException`` that is not an ``Exception`` (``original``).
    ``stack`` is where it was, outermost frame first; ``text`` says it in words."""

    def __init__(self, text: str, stack: list, limit: float | None = None, original: BaseException | None = None):
        super().__init__(text)
        self.text = text
        self.stack = stack
        self.limit = limit  # the seconds it had, when it ran out of time
        self.original = original

    @property
    def timed_out(self) -> bool:
        return self.limit is not None


# ------------------------------------------------------------------------------------- the limit
_parsed: tuple[str | None, float | None] = ("", DEFAULT_TIMEOUT)


def plugin_timeout() -> float | None:
    """The limit in seconds from ``LAYERLOOM_PLUGIN_TIMEOUT`` (``None``: no limit)."""
    global _parsed
    raw = os.environ.get(ENV)
    if raw == _parsed[0]:
        return _parsed[1]
    _parsed = (raw, _parse_timeout(raw))
    return _parsed[1]


def _parse_timeout(raw: str | None) -> float | None:
    if raw is None or not raw.strip():
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if math.isnan(value):
        print(f"layerloom: {ENV}={raw!r} is not a number of seconds; using {DEFAULT_TIMEOUT:g}", file=sys.stderr)
        return DEFAULT_TIMEOUT
    return None if value <= 0 or math.isinf(value) else value


def describe_escape(exc: BaseException) -> str:
    """A ``BaseException`` a plugin raised, in words: ``called sys.exit(3)``."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})" if exc.code is not None else "called sys.exit()"
    text = str(exc)
    return f"raised {type(exc).__name__}" + (f": {text}" if text else "")


# ----------------------------------------------------------------------------- the guarded call
_local = threading.local()


def guarded(fn, *args, isolate: bool = False):
    """``fn(*args)`` as plugin code: under the time limit, with stdout sent to stderr. Returns its
    result or raises its ``Exception``; raises ``Escaped`` when it ran out of time or raised any other
    ``BaseException``, except a real Ctrl-C, which propagates. ``isolate``: where the code cannot be
    interrupted (off the main thread), run it in a daemon thread that can be abandoned (for imports)."""
    if getattr(_local, "depth", 0):  # plugin code calling plugin code: the outer limit applies
        return fn(*args)
    _local.depth = 1
    _redirect_stdout()
    try:
        limit = plugin_timeout()
        if limit is None:
            return _plain(fn, args)
        result = _with_alarm(fn, args, limit)
        if result is not _NO_ALARM:
            return result
        if isolate:
            return _in_thread(fn, args, limit)
        return _with_watchdog(fn, args, limit)
    finally:
        _restore_stdout()
        _local.depth = 0


def _plain(fn, args):
    try:
        return fn(*args)
    except Exception:
        raise
    except KeyboardInterrupt:
        raise  # no way to tell the user's Ctrl-C from the plugin's own without a limit: stop
    except BaseException as exc:  # noqa: BLE001 - SystemExit and friends become a report
        raise Escaped(describe_escape(exc), _stack_of(exc), original=exc) from None


def _stack_of(exc: BaseException) -> list:
    return list(traceback.extract_tb(exc.__traceback__))


# -------------------------------------------------------------------------- main thread: SIGALRM
# ``_signal`` is the C module under ``signal``: its functions skip the enum conversions of
# ``signal.signal``/``getsignal`` (which raise and catch a ValueError for a Python handler), ten times
# cheaper per call, and every guarded call swaps two handlers and back.
try:
    import _signal
    _HAS_ALARM = hasattr(_signal, "setitimer") and hasattr(_signal, "SIGALRM")
except ImportError:  # pragma: no cover - not CPython
    _HAS_ALARM = False
if _HAS_ALARM:
    _SIGALRM, _SIGINT, _ITIMER_REAL = int(_signal.SIGALRM), int(_signal.SIGINT), _signal.ITIMER_REAL
_MAIN = threading.main_thread()


class _Alarm:
    __slots__ = ("limit", "hard", "live", "fired", "interrupted")

    def __init__(self, limit: float):
        self.limit = limit
        self.hard = time.monotonic() + limit * GRACE_FACTOR
        self.live = False
        self.fired = False
        self.interrupted = False

    def on_alarm(self, signum, frame):
        if not self.live:
            return
        if time.monotonic() < self.hard and importing(frame):
            _signal.setitimer(_ITIMER_REAL, _GRACE_STEP)
            return
        self.fired = True
        raise PluginTimeout

    def on_interrupt(self, signum, frame):
        self.interrupted = True
        raise KeyboardInterrupt


_NO_ALARM = object()


def _with_alarm(fn, args, limit):
    """``fn(*args)`` under a ``SIGALRM`` timer, or ``_NO_ALARM`` when one cannot be used here: not
    the main thread, a handler installed outside Python (it could not be put back), or someone
    else's timer due first (left alone)."""
    if not _HAS_ALARM or threading.current_thread() is not _MAIN:
        return _NO_ALARM
    old_alarm = _signal.getsignal(_SIGALRM)
    if old_alarm is None:
        return _NO_ALARM
    alarm = _Alarm(limit)
    started = time.monotonic()
    _signal.signal(_SIGALRM, alarm.on_alarm)   # first: a timer never finds the default handler (exit)
    old_delay, old_interval = _signal.setitimer(_ITIMER_REAL, limit)
    if old_delay and old_delay <= limit:
        _signal.setitimer(_ITIMER_REAL, old_delay, old_interval)
        _signal.signal(_SIGALRM, old_alarm)
        return _NO_ALARM
    alarm.live = True
    old_int = _signal.getsignal(_SIGINT)
    watch_int = old_int is _signal.default_int_handler
    if watch_int:
        _signal.signal(_SIGINT, alarm.on_interrupt)
    try:
        try:
            return fn(*args)
        finally:
            alarm.live = False
            _signal.setitimer(_ITIMER_REAL, 0)
            _signal.signal(_SIGALRM, old_alarm)
            if watch_int:
                _signal.signal(_SIGINT, old_int)
            if old_delay:  # someone else's alarm, due later: put it back with what is left of it
                left = max(old_delay - (time.monotonic() - started), 1e-3)
                _signal.setitimer(_ITIMER_REAL, left, old_interval)
    except Exception:
        raise
    except BaseException as exc:  # noqa: BLE001
        # The user's Ctrl-C went through our handler; with a handler of someone else's in place
        # (a training run's graceful stop) there is no telling, so it stops like a Ctrl-C.
        if isinstance(exc, KeyboardInterrupt) and (alarm.interrupted or (not watch_int and callable(old_int))):
            raise
        raise _escaped(exc, limit, alarm.fired) from None


def _escaped(exc: BaseException, limit: float, fired: bool) -> Escaped:
    """What plugin code that did not finish normally is reported as: out of time when our timer
    fired, else the exit or interrupt it raised itself."""
    if isinstance(exc, PluginTimeout) and fired:
        return _timed_out(limit, _stack_of(exc))
    return Escaped(describe_escape(exc), _stack_of(exc), original=exc)


def _timed_out(limit: float, stack: list) -> Escaped:
    return Escaped(f"did not finish within {limit:g} s", stack, limit=limit)


# ------------------------------------------------------------------- other threads: a watchdog
class _Watch:
    __slots__ = ("tid", "deadline", "hard", "fired")

    def __init__(self, limit: float):
        now = time.monotonic()
        self.tid = threading.get_ident()
        self.deadline = now + limit
        self.hard = now + limit * GRACE_FACTOR
        self.fired = False


_lock = threading.Lock()
_watched: dict[int, _Watch] = {}
_wake = threading.Event()
_watchdog: threading.Thread | None = None


def _async_raise(tid: int, exc) -> None:
    """Raise ``exc`` (a class) in thread ``tid`` at its next Python instruction; None clears it."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(exc) if exc else None)


def _watch_loop() -> None:
    while True:
        _wake.wait()
        time.sleep(_POLL)
        with _lock:
            if not _watched:
                _wake.clear()
                continue
            now = time.monotonic()
            frames = None
            for watch in _watched.values():
                if now < watch.deadline:
                    continue
                if now < watch.hard:
                    frames = frames if frames is not None else sys._current_frames()
                    if importing(frames.get(watch.tid)):
                        continue
                watch.fired = True
                _async_raise(watch.tid, PluginTimeout)  # again at each look, if the plugin swallows it


def _with_watchdog(fn, args, limit):
    global _watchdog
    watch = _Watch(limit)
    with _lock:
        if _watchdog is None:
            _watchdog = threading.Thread(target=_watch_loop, name="layerloom-plugin-watchdog", daemon=True)
            _watchdog.start()
        _watched[watch.tid] = watch
        if not _wake.is_set():
            _wake.set()
    try:
        try:
            return fn(*args)
        finally:
            with _lock:
                _watched.pop(watch.tid, None)
                fired = watch.fired
            if fired:
                _async_raise(watch.tid, None)  # one not delivered yet must not land in the caller
    except Exception:
        raise
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt) and watch.tid == _MAIN.ident:   # maybe the user's Ctrl-C
            raise
        raise _escaped(exc, limit, watch.fired) from None


# ------------------------------------------------------------- imports off the main thread
def _in_thread(fn, args, limit):
    """Run ``fn`` in a daemon thread and wait at most ``limit`` (longer while it imports another
    module); a thread still running then is abandoned (and asked to stop, in case it loops)."""
    box: dict = {}
    worker = threading.Thread(target=_thread_body, args=(fn, args, box), name="layerloom-plugin-import",
                              daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(limit)
    while worker.is_alive() and time.monotonic() - started < limit * GRACE_FACTOR \
            and importing(sys._current_frames().get(worker.ident)):
        worker.join(_GRACE_STEP)
    if worker.is_alive():
        frame = sys._current_frames().get(worker.ident)
        stack = list(traceback.extract_stack(frame)) if frame is not None else []
        _async_raise(worker.ident, PluginTimeout)
        raise _timed_out(limit, stack)
    if "error" not in box:
        return box["result"]
    exc = box["error"]
    if isinstance(exc, Exception):
        raise exc
    raise Escaped(describe_escape(exc), _stack_of(exc), original=exc)


def _thread_body(fn, args, box: dict) -> None:
    try:
        box["result"] = fn(*args)
    except BaseException as exc:  # noqa: BLE001 - carried back to the caller
        box["error"] = exc


# ----------------------------------------------------------------- is it importing something?
# Frames that are not the plugin's own: LayerLoom's runtime and Python's standard library (not its
# site-packages, where entry-point plugins and the libraries they import live).
_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_STDLIB_DIR = os.path.dirname(os.path.abspath(os.__file__)) + os.sep


def _bootstrap(filename: str) -> bool:
    return filename.startswith("<frozen importlib._bootstrap")


def is_plugin_frame(filename: str) -> bool:
    if filename.startswith("<"):
        return False
    path = os.path.abspath(filename)
    if path.startswith(_RUNTIME_DIR):
        return False
    return not path.startswith(_STDLIB_DIR) or "-packages" + os.sep in path[len(_STDLIB_DIR):]


def importing(frame) -> bool:
    """Whether the plugin code running in ``frame`` (and its callers up to the guard) is importing
    another module: an import frame below a frame of the plugin's own."""
    chain = []
    while frame is not None and frame.f_code not in _GUARD_CODES:
        chain.append(frame.f_code.co_filename)
        frame = frame.f_back
    seen_plugin = False
    for filename in reversed(chain):  # outermost first
        if _bootstrap(filename):
            if seen_plugin:
                return True
        elif is_plugin_frame(filename):
            seen_plugin = True
    return False


_GUARD_CODES = {guarded.__code__, _with_alarm.__code__, _with_watchdog.__code__, _plain.__code__,
                _thread_body.__code__}


# ---------------------------------------------------------------------------- stdout to stderr
_redirects = 0
_saved_stdout = None


def _redirect_stdout() -> None:
    """While plugin code runs, ``sys.stdout`` is ``sys.stderr`` (counted, so overlapping calls from
    several threads put the real one back once, when the last ends)."""
    global _redirects, _saved_stdout
    with _lock:
        if _redirects == 0:
            _saved_stdout = sys.stdout
            sys.stdout = sys.stderr
        _redirects += 1


def _restore_stdout() -> None:
    global _redirects, _saved_stdout
    with _lock:
        _redirects -= 1
        if _redirects == 0:
            sys.stdout = _saved_stdout
            _saved_stdout = None


@contextlib.contextmanager
def fd_stdout_to_stderr():
    """File descriptor 1 points at stderr too (a plugin's ``os.write(1, ...)``, a native library's
    banner). For imports only: it costs a few system calls and affects every thread. Where the
    descriptors are not usable (no console), nothing changes."""
    saved = None
    try:
        for stream in (sys.stdout, sys.__stdout__):
            if stream is not None:
                stream.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
    except (OSError, ValueError, AttributeError):
        if saved is not None:
            os.close(saved)
            saved = None
    try:
        yield
    finally:
        if saved is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 1)
            os.close(saved)


# ---------------------------------------------------------------------- calling a node's code
_given_up: dict[tuple[str, str, str], float] = {}


def call_plugin(fn, *args, plugin: str, what: str, key: str = ""):
    """``fn(*args)`` for a node type of ``plugin``: ``what`` names the function (``infer()``).
    Raises ``PluginError`` when it ran out of time or tried to end the program; a function that
    ran out of time once is not called again (each edit would wait the whole limit)."""
    known = (plugin, key, what)
    if known in _given_up:
        raise PluginError(f"the {what} of plugin {plugin!r} did not return within {_given_up[known]:g} s earlier; "
                          "it is not called again until LayerLoom restarts (fix the plugin, or raise "
                          f"{ENV})")
    try:
        return guarded(fn, *args)
    except Escaped as exc:
        if exc.timed_out:
            limit = exc.limit
            _given_up[known] = limit
            raise PluginError(f"the {what} of plugin {plugin!r} did not return within {limit:g} s{_at(exc.stack)}; "
                              f"fix the plugin (or raise {ENV} if it is only slow)") from None
        raise PluginError(f"the {what} of plugin {plugin!r} {exc.text}{_at(exc.stack)}") from None


def given_up() -> list[tuple[str, str, str, float]]:
    """``(plugin, key, what, limit)`` of each plugin function that ran out of time in this process and
    is no longer called (``key`` is the node type): what Help > Plugins lists beside the plugin."""
    return [(plugin, key, what, limit) for (plugin, key, what), limit in _given_up.items()]


def _at(stack: list) -> str:
    """`` (at file:line)``: the innermost frame that is not LayerLoom's own or Python's."""
    for frame in reversed(stack):
        if is_plugin_frame(frame.filename):
            return f" (at {frame.filename}:{frame.lineno})"
    return ""
