"""Memory follows the work: what a runner, a finished handle and a release keep alive.

Checked with weak references and `gc.collect()`: an object nothing needs must be gone,
one something needs must not be.
"""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Collection, Mapping
from typing import Any

import pytest
from pyworkflowy import Checkpointer, TaskRunner, TaskStatus, task

WAIT = 10.0


class Blob:
    """A stand-in for a big result: weakly referenceable, so its death can be seen."""

    def __init__(self, n: int) -> None:
        self.n = n


class MemoryCheckpointer(Checkpointer):
    """Keeps records (and the very values) in a dict; counts the saves."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.saves = 0

    def save(self, records: Mapping[str, dict[str, Any]], removed: Collection[str] = ()) -> None:
        self.saves += 1
        self.records.update(records)
        for handle_id in removed:
            self.records.pop(handle_id, None)

    def load(self) -> dict[str, dict[str, Any]]:
        return dict(self.records)


def _dead(refs: list[weakref.ref[Any]]) -> int:
    gc.collect()
    return sum(ref() is None for ref in refs)


# -- a serving runner lets finished handles go ---------------------------------------------


def _settle(runner: TaskRunner) -> None:
    """With one worker thread: once this runs, the thread has let go of the bodies before."""
    runner.submit(Blob, -1).wait(WAIT)


# The runner is shut down (its threads joined) before the checks: a pool thread may hold
# the body it has just run for a moment after reporting its outcome.


def test_a_serving_runner_keeps_no_finished_handle_nobody_holds() -> None:
    refs: list[weakref.ref[Any]] = []
    with TaskRunner() as runner:
        runner.start()
        refs.extend(weakref.ref(runner.submit(Blob, n)) for n in range(500))
        runner.stop()  # waits for the submitted tasks
    assert _dead(refs) == 500
    assert runner.handles() == []
    assert runner.results() == {}


def test_a_serving_runner_keeps_the_handles_you_hold() -> None:
    with TaskRunner() as runner:
        runner.start()
        kept = runner.submit(Blob, 1)
        for n in range(100):
            runner.submit(Blob, n)
        runner.stop()
    gc.collect()
    assert runner.handles() == [kept]
    assert list(runner.results()) == [kept.id]
    assert kept.result().n == 1


def test_ids_of_live_handles_stay_unique_while_serving() -> None:
    with TaskRunner(max_workers=1) as runner:
        runner.start()
        first = runner.submit(Blob, 1, key="nightly")
        first.wait(WAIT)
        with pytest.raises(ValueError, match="'nightly' is already used"):
            runner.submit(Blob, 2, key="nightly")
        first_ref = weakref.ref(first)
        del first
        _settle(runner)
        gc.collect()
        assert first_ref() is None
        second = runner.submit(Blob, 2, key="nightly")  # the old one is gone: the id is free
        assert second.result(timeout=WAIT).n == 2
        runner.stop()


def test_automatic_ids_never_repeat_while_serving() -> None:
    with TaskRunner() as runner:
        runner.start()
        ids = set()
        for n in range(50):
            handle = runner.submit(Blob, n)
            handle.wait(WAIT)
            ids.add(handle.id)
            del handle
            gc.collect()
        runner.stop()
    assert len(ids) == 50


def test_a_pending_dependent_keeps_its_finished_dependency_alive() -> None:
    gate = threading.Event()
    with TaskRunner() as runner:
        runner.start()
        first = runner.submit(Blob, 1)
        blocker = runner.submit(gate.wait, WAIT)
        last = runner.submit(lambda: "done", depends_on=[first, blocker])
        first.wait(WAIT)
        first_ref = weakref.ref(first)
        del first
        gc.collect()
        assert first_ref() is not None  # `last` has not started: it still needs it
        assert last.deps[0] is first_ref()
        gate.set()
        assert last.result(timeout=WAIT) == "done"
        runner.stop()
        del blocker
    assert _dead([first_ref]) == 1  # `last` ended: it keeps its dependencies by id only


def test_serving_lets_go_of_what_earlier_runs_finished() -> None:
    with TaskRunner() as runner:
        ref = weakref.ref(runner.submit(Blob, 1))
        runner.run()
        assert ref() is not None  # run() mode: the runner keeps every handle
        runner.start()
        runner.stop()
    assert _dead([ref]) == 1
    assert runner.handles() == []


def test_forget_of_a_handle_let_go_frees_its_id() -> None:
    with TaskRunner() as runner:
        runner.start()
        first = runner.submit(Blob, 1, key="k")
        first.wait(WAIT)
        runner.forget(first)
        second = runner.submit(Blob, 2, key="k")
        assert second.result(timeout=WAIT).n == 2
        runner.stop()
        assert first.result().n == 1


# -- a finished handle does not pin its dependencies' values ------------------------------


@task(backend="thread")
def step(previous: Blob | None, n: int) -> Blob:
    return Blob(n)


def test_a_finished_chain_does_not_pin_upstream_values() -> None:
    with TaskRunner() as runner:
        handles = [runner.submit(step, None, 0)]
        for n in range(1, 20):
            handles.append(runner.submit(step, None, n, depends_on=handles[-1]))
        runner.run()
        values = [weakref.ref(h.result()) for h in handles]
        last = handles[-1]
        runner.forget(*handles[:-1])
        del handles
        assert _dead(values) == 19  # only the last value is alive
        assert last.result().n == 19
        assert last.deps == ()  # its dependency was forgotten: looked up by id, not found


def test_deps_of_a_finished_handle_are_still_listed_after_run() -> None:
    with TaskRunner() as runner:
        a = runner.submit(Blob, 1)
        b = runner.submit(Blob, 2)
        c = runner.submit(Blob, 3, depends_on=[a, b])
        d = runner.submit(Blob, 4, depends_on=c)
        runner.run()
        assert c.deps == (a, b)
        assert d.deps == (c,)
        assert d.depends_on == (c,)


# -- release -------------------------------------------------------------------------------


def test_release_drops_the_value_and_says_so() -> None:
    with TaskRunner() as runner:
        handle = runner.submit(Blob, 1)
        runner.run()
        ref = weakref.ref(handle.result())
        handle.release()
        assert handle.released
        assert _dead([ref]) == 1
        assert handle.status is TaskStatus.COMPLETED
        assert handle.get_result().value is None
        with pytest.raises(RuntimeError, match="was released"):
            handle.result()
        assert runner.run()[handle.id].value is None
        handle.release()  # twice is harmless


def test_release_of_an_unfinished_handle_is_refused() -> None:
    with TaskRunner() as runner:
        handle = runner.submit(Blob, 1)
        with pytest.raises(RuntimeError, match="release"):
            handle.release()
        runner.run()


def test_release_of_a_failed_handle_keeps_its_error() -> None:
    def boom() -> None:
        raise KeyError("x")

    with TaskRunner(on_task_error="continue") as runner:
        handle = runner.submit(boom)
        runner.run()
        handle.release()
        assert not handle.released
        assert isinstance(handle.exception(), KeyError)


def test_a_released_value_is_still_written_and_resumed() -> None:
    store = MemoryCheckpointer()
    with TaskRunner(checkpointer=store, checkpoint_interval=3600) as runner:
        first = runner.submit(Blob, 1, key="first")
        released = threading.Event()

        def use_then_release() -> int:
            value = first.result().n
            first.release()  # the checkpoint has not written `first` yet
            released.set()
            return value

        second = runner.submit(use_then_release, depends_on=first, key="second")
        runner.run()  # the end of the run writes the checkpoint
        assert released.is_set()
        assert second.result() == 1
        assert first.released
    assert store.records["first"]["value"].n == 1

    runner = TaskRunner.resume(store)
    again = runner.submit(Blob, 1, key="first")
    runner.run()
    with pytest.warns(RuntimeWarning, match="'second'"):  # not submitted again: dropped
        runner.shutdown()
    assert again.result().n == 1  # primed from the checkpoint, not run again


def test_release_from_another_thread_while_running() -> None:
    gate = threading.Event()
    with TaskRunner() as runner:
        runner.start()
        first = runner.submit(Blob, 1)
        first.wait(WAIT)
        holder = runner.submit(gate.wait, WAIT)
        first.release()
        holder_done = runner.submit(lambda: None, depends_on=holder)
        gate.set()
        holder_done.wait(WAIT)  # the release was queued on the loop before this finished
        runner.stop()
    assert first.released
