"""Driving a run: the runner's own event loop, serving on a thread, and calls from other threads.

A runner keeps one event loop for its whole life (made by the first ``run()``, closed by
``shutdown()``), so loop-bound objects (an ``asyncio.Lock``, an HTTP client) made in one
run still work in the next. ``arun()`` runs on the caller's loop instead.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from ._types import TERMINAL

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Coroutine

    from ._engine import Engine
    from .testing import VirtualClock

__all__ = ["Driver", "at_interpreter_exit", "use_clock"]

_T = TypeVar("_T")
_EXIT_WAIT = 2.0  # seconds a serving runner gets to stop when the program ends


class Driver:
    """Owns a runner's loop and its serving thread; `drive` is one run of the engine."""

    def __init__(self, engine: Engine, owner: object) -> None:
        self.engine = engine
        self.closed = False
        self._owner = weakref.ref(owner)
        self._asyncio: asyncio.Runner | None = None
        self._server: tuple[threading.Thread, list[BaseException]] | None = None
        self.handle_signals = False  # TaskRunner(handle_signals=True): SIGTERM as SIGINT
        self.terminated = False  # the last run() ended on SIGTERM
        # Graph changes from threads other than the loop's (`call_on_loop`) hold this lock:
        # while no run goes on they are made by the caller, one at a time; while one does,
        # they are queued to the loop. A run starts and ends holding it, and calls queued
        # when its loop stopped are made then (``_queued``), so none waits for a next run.
        self.lock = threading.RLock()
        self._queued: dict[int, Callable[[], None]] = {}
        self.stopping = False  # an interrupted run is cancelling and flushing
        #: a second Ctrl-C came while stopping: close without waiting for anything more
        self.hurry = False
        self._main_task: asyncio.Task[Any] | None = None

    # -- the runner's own loop ---------------------------------------------------------
    def run(self, coro: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
        """Run ``coro()`` to completion on this runner's loop (made on first use)."""
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "run() was called inside a running event loop; use 'await runner.arun()'"
            )
        runner = self._asyncio
        if runner is None:
            clock = self.engine.clock
            factory = (
                asyncio.new_event_loop
                if clock is None
                else partial(clock.new_event_loop, partial(busy_off_loop, self.engine))
            )
            runner = self._asyncio = asyncio.Runner(loop_factory=factory)
            owner = self._owner()
            if owner is not None:  # a runner dropped without shutdown() closes its loop
                weakref.finalize(owner, _close_loop, runner.get_loop())
        self.terminated = self.hurry = False
        woken = _wake_on_signals(runner.get_loop())
        try:
            return runner.run(coro())
        except KeyboardInterrupt:
            if self.stopping:  # a second Ctrl-C broke into the first one's cleanup
                self.stopping, self.hurry = False, True
                main = self._main_task
                if main is not None and main.done() and not main.cancelled():
                    main.exception()  # raised here: no "exception was never retrieved"
            raise
        except asyncio.CancelledError:
            if self.terminated:  # SIGTERM with handle_signals=True: as Ctrl-C is
                raise KeyboardInterrupt("SIGTERM") from None
            raise
        finally:
            if woken is not None:
                woken()

    def close_loop(self) -> None:
        import asyncio

        runner, self._asyncio = self._asyncio, None
        if runner is None:
            return
        if self.hurry:  # no waiting for the default executor's threads either
            _close_loop(runner.get_loop())
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the usual case: cancel leftover tasks, close generators
            runner.close()
        else:  # called from inside another running loop: the loop can only be closed
            _close_loop(runner.get_loop())

    # -- one run -----------------------------------------------------------------------
    async def drive(self, serving: bool, ready: threading.Event | None = None) -> None:
        import asyncio

        engine = self.engine
        if self.closed:
            raise RuntimeError("this TaskRunner was shut down; create a new one to run tasks")
        if engine.loop is not None:
            raise RuntimeError("this TaskRunner is already running")
        loop = asyncio.get_running_loop()
        if engine.clock is not None and getattr(loop, "_virtual_clock", None) is not engine.clock:
            raise RuntimeError(
                "a TaskRunner on a VirtualClock runs on a loop of that clock: call run() or "
                "start(), not arun() or serve() on another event loop"
            )
        with self.lock:  # a submission from another thread finishes first
            engine.loop, engine.loop_thread = loop, threading.get_ident()
        engine.aborting, engine.serving = False, serving
        engine.inbox.clear()  # outcomes of attempts an earlier run already settled
        engine.wake_due = engine.pump_due = False
        if engine.gates:
            engine.reset_gate_timers()
        engine.cache_identities.clear()  # closures may capture other values by now
        for lane in list(engine.lanes.values()):
            lane.open(loop)
        error: BaseException | None = None
        on_sigterm = self._watch_sigterm(loop) if self.handle_signals else None
        try:
            if engine.first_error is not None and engine.on_task_error == "raise" and not serving:
                # a failure was decided while idle (e.g. a dependency failed)
                engine.abort(f"task {engine.failed_id!r} failed")
            if serving:
                engine.let_go_finished()
            if engine.unfinished or serving:
                engine.idle = loop.create_future()
                engine.pump()
                if ready is not None:
                    ready.set()
                await engine.idle
        except BaseException as exc:
            error = exc
            engine.interrupted = True  # shutdown() then waits for no abandoned body
            self.stopping = True  # until the finally clause below has run through
            self._main_task = asyncio.current_task()
            engine.abort(f"it was interrupted by {type(exc).__name__}")
            raise
        finally:
            if on_sigterm is not None:
                import signal

                loop.remove_signal_handler(signal.SIGTERM)
            with self.lock:
                engine.loop = engine.loop_thread = engine.idle = None
                queued, self._queued = self._queued, {}
                for call in list(queued.values()):  # sent to the loop as it stopped: made here
                    call()
            engine.serving = False
            if serving:  # those that finished after stop() was asked are let go too
                engine.let_go_finished()
            journal = engine.journal
            if journal is not None:
                if journal.start_due is not None:  # attempts an abort settled unstarted
                    journal.start_due.cancel()
                    journal.start_due, journal.starting = None, []
                journal.flush()
                if error is None:
                    journal.run_completed = True
            if engine.subscribers is not None:
                from .events import RunFinished

                counts = Counter(h._status for h in engine.handles.values())
                engine.emit(RunFinished(engine.now(), dict(counts), error or engine.first_error))
            self.stopping, self._main_task = False, None

    def _watch_sigterm(self, loop: asyncio.AbstractEventLoop) -> object | None:
        """SIGTERM ends this run as Ctrl-C does (``TaskRunner(handle_signals=True)``):
        only in the main thread, on a loop that can take signal handlers."""
        import asyncio
        import signal

        if threading.current_thread() is not threading.main_thread():
            return None
        task = asyncio.current_task()

        def on_sigterm() -> None:
            self.terminated = True
            if task is not None:
                task.cancel()

        try:
            loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        except (NotImplementedError, RuntimeError, ValueError):  # not here (Windows, ...)
            return None
        return on_sigterm

    # -- serving -----------------------------------------------------------------------
    def start(self) -> None:
        if self.engine.loop is not None or self._server is not None:
            raise RuntimeError("this TaskRunner is already running")
        ready = threading.Event()
        errors: list[BaseException] = []

        def main() -> None:
            try:
                self.run(lambda: self.drive(serving=True, ready=ready))
            except BaseException as exc:  # surfaced by start() or stop()
                errors.append(exc)
                ready.set()

        # A daemon, so that a program that ends without stop() still exits: at exit it is
        # stopped (`_stop_at_exit`), its unfinished tasks cancelled.
        thread = threading.Thread(target=main, name="pyworkflowy-runner", daemon=True)
        self._server = (thread, errors)
        _watch_at_exit(self)
        thread.start()
        ready.wait()
        if errors:
            self._server = None
            raise errors[0]

    def stop(self, timeout: float | None = None) -> None:
        loop = self.engine.loop
        if loop is not None:
            loop.call_soon_threadsafe(self._stop_serving)
        server, self._server = self._server, None
        if server is not None:
            thread, errors = server
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"the runner did not stop within {timeout} s")
            if errors:
                raise errors[0]

    @property
    def serving_thread(self) -> bool:
        return self._server is not None

    def stop_at_exit(self, timeout: float = _EXIT_WAIT) -> None:
        """The program ends while this runner serves: cancel what is unfinished, stop, and
        close the runner (its checkpoint is flushed), waiting ``timeout`` s at most."""
        server, loop = self._server, self.engine.loop
        if server is None:
            return
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                loop.call_soon_threadsafe(self._cancel_and_stop)
        server[0].join(timeout)
        self._server = None
        owner = self._owner()
        if owner is not None and not server[0].is_alive():
            with contextlib.suppress(Exception):  # nobody is left to tell
                owner.shutdown(wait=False)  # type: ignore[attr-defined]

    def _cancel_and_stop(self) -> None:
        engine = self.engine
        for h in list(engine.handles.values()):
            if h._status not in TERMINAL:
                engine.request_cancel(h)
        self._stop_serving()

    def _stop_serving(self) -> None:
        engine = self.engine
        engine.serving = False
        if engine.unfinished == 0 and engine.idle is not None and not engine.idle.done():
            engine.idle.set_result(None)

    def call_on_loop(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` for a thread that is not the loop's: made here while no run goes
        on, else on the loop thread; either way one at a time (see ``lock``)."""
        with self.lock:
            loop = self.engine.loop
            if loop is None:
                return fn(*args)
            from concurrent.futures import Future

            future: Future[_T] = Future()
            queued, engine = self._queued, self.engine

            def make() -> None:
                if queued.pop(id(future), None) is None:
                    return  # already made when that run ended
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:
                    future.set_exception(exc)

            def call() -> None:
                idle = engine.idle
                if idle is None or idle.done():
                    return  # the run is ending: a task started now would outlive it
                make()  # (`drive` makes what is left in ``queued`` as the run ends)

            queued[id(future)] = make
            loop.call_soon_threadsafe(call)
        return future.result()


_at_exit: weakref.WeakSet[Driver] | None = None


def _watch_at_exit(driver: Driver) -> None:
    """Stop ``driver`` when the interpreter exits, if it still serves then."""
    global _at_exit
    if _at_exit is None:
        _at_exit = weakref.WeakSet()
        at_interpreter_exit(_stop_all_at_exit)
    _at_exit.add(driver)


def at_interpreter_exit(fn: Callable[[], object]) -> None:
    """Call ``fn`` when the main thread has finished: before ``concurrent.futures`` joins
    its executors' threads (a task's ``asyncio.to_thread`` call, say), so that nothing
    is still submitting to them then, and in any case at ``atexit``."""
    import atexit

    atexit.register(fn)
    register = getattr(threading, "_register_atexit", None)  # what concurrent.futures uses
    if register is not None:
        import concurrent.futures.thread  # noqa: F401 - registered first, so called after fn

        with contextlib.suppress(RuntimeError):  # the interpreter is already shutting down
            register(fn)


def _stop_all_at_exit() -> None:
    for driver in list(_at_exit or ()):
        driver.stop_at_exit()


def _wake_on_signals(loop: asyncio.AbstractEventLoop) -> Callable[[], None] | None:
    """Make a signal wake ``loop`` while ``run()`` waits in it; returns the undoing call.

    The kernel may hand a Ctrl-C to any thread, a body's say; Python then runs its handler
    (asyncio.Runner's, which cancels the run) in the main thread, but only once that thread
    runs again, and a loop blocked in ``select()`` with nothing due never would: the Ctrl-C
    is lost. A wakeup fd (as ``loop.add_signal_handler`` sets) wakes it. Left alone if one
    is set already, or where it cannot be (not the main thread, a loop without readers).
    """
    import signal
    import socket

    if threading.current_thread() is not threading.main_thread():
        return None
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)

    def drain() -> None:
        with contextlib.suppress(OSError):
            while reader.recv(4096):
                pass

    try:
        loop.add_reader(reader.fileno(), drain)
    except (NotImplementedError, RuntimeError):
        reader.close()
        writer.close()
        return None
    try:
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:
        previous = None
    if previous != -1:  # somebody's own (or none can be set): theirs stays
        if previous is not None:
            signal.set_wakeup_fd(previous)
        loop.remove_reader(reader.fileno())
        reader.close()
        writer.close()
        return None

    def undo() -> None:
        with contextlib.suppress(ValueError):
            current = signal.set_wakeup_fd(-1)
            if current not in (-1, writer.fileno()):  # set by somebody since: theirs
                signal.set_wakeup_fd(current)
        if not loop.is_closed():
            loop.remove_reader(reader.fileno())
        reader.close()
        writer.close()

    return undo


def busy_off_loop(engine: Engine) -> bool:
    """Whether bodies run away from the loop (threads, processes): a virtual clock must
    not jump then."""
    return any(lane.running for lane in engine.lanes.values() if lane.backend.runs_sync)


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    if not loop.is_closed() and not loop.is_running():
        loop.close()


# The engine reads the time through its module's _now and _monotonic (the fastest calls);
# a runner on a VirtualClock gets copies of those methods that read the clock instead.
_TIMED = ("to", "start", "launch", "on_timeout", "finish")  # Engine methods that read the time


def use_clock(engine: Engine, clock: VirtualClock) -> None:
    """Make ``engine`` (and its journal) read ``clock`` wherever it reads the time."""
    import types

    from .testing import VirtualClock

    if not isinstance(clock, VirtualClock):
        raise TypeError(f"clock must be a pyworkflowy.testing.VirtualClock, got {clock!r}")

    from . import _engine

    for name in _TIMED:
        f = getattr(_engine.Engine, name)
        namespace = {**f.__globals__, "_now": clock, "_monotonic": clock.monotonic}
        copy = types.FunctionType(f.__code__, namespace, name, f.__defaults__, f.__closure__)
        setattr(engine, name, types.MethodType(copy, engine))
    engine.clock, engine.now, engine.monotonic = clock, clock, clock.monotonic
    if engine.journal is not None:
        engine.journal.monotonic = clock.monotonic
