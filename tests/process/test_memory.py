"""What the parent process keeps of a process task's arguments: nothing past sending them.

Measured with tracemalloc (the parent's Python allocations): submitting keeps no pickled
copy, and a large buffer goes to the worker from the argument's own memory.
"""

from __future__ import annotations

import pickle
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from pyworkflowy import TaskRunner, task
from pyworkflowy.process import SerializationError

MB = 1 << 20
SIZE = 8 * MB


class Frame:
    """A buffer that pickles out of band with protocol 5, as a numpy array does."""

    def __init__(self, data: bytearray) -> None:
        self.data = data

    def __reduce_ex__(self, protocol: Any) -> Any:
        if protocol >= 5:
            return Frame._rebuild, (pickle.PickleBuffer(self.data),)
        return Frame._rebuild, (self.data,)

    @staticmethod
    def _rebuild(data: object) -> Frame:
        return Frame(bytearray(data))  # type: ignore[arg-type]


@task(backend="process")
def checksum(frame: Frame, offset: int) -> int:
    return sum(frame.data[offset : offset + 1000]) + len(frame.data)


@task(backend="process")
def total(values: bytes) -> int:
    return len(values)


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def test_submitting_keeps_no_serialised_copy(traced: None) -> None:
    frame = Frame(bytearray(range(256)) * (SIZE // 256))
    with TaskRunner(max_workers=2) as runner:
        runner.submit(checksum, frame, 0)
        runner.run()  # the workers are started and have imported what they need
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        handles = [runner.submit(checksum, frame, n) for n in range(20)]
        after_submit, submit_peak = tracemalloc.get_traced_memory()
        runner.run()
        _, run_peak = tracemalloc.get_traced_memory()
    # Pickled at submit and kept, 20 copies would be 160 MB; checked into nothing, none.
    assert after_submit - before < MB
    assert submit_peak - before < MB
    # Sent from the frame's own memory: the parent never copies it while running.
    assert run_peak - before < SIZE
    assert [h.result() for h in handles] == [
        sum(frame.data[n : n + 1000]) + SIZE for n in range(20)
    ]


def test_in_band_arguments_are_let_go_after_sending(traced: None) -> None:
    payload = b"x" * SIZE  # bytes go in band: one pickled copy per attempt being sent
    with TaskRunner(max_workers=1) as runner:
        runner.submit(total, b"")
        runner.run()
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        handles = [runner.submit(total, payload) for _ in range(10)]
        runner.run()
        after, peak = tracemalloc.get_traced_memory()
    assert [h.result() for h in handles] == [SIZE] * 10
    assert peak - before < 3 * SIZE  # one attempt in flight at a time, not ten copies
    assert after - before < MB


def test_an_argument_that_cannot_travel_still_fails_at_submit() -> None:
    import threading

    with TaskRunner(backend="process") as runner:
        with pytest.raises(SerializationError, match="argument 0"):
            runner.submit(len, threading.Lock())  # type: ignore[call-overload]
        assert runner.handles() == []


def test_a_released_upstream_result_cannot_travel() -> None:
    with TaskRunner(backend="process", on_task_error="continue") as runner:
        upstream = runner.submit(len, "abc")
        runner.run()
        upstream.release()
        downstream = runner.submit(str, upstream, depends_on=upstream)
        runner.run()
    with pytest.raises(SerializationError, match="was released"):
        downstream.result()


class Shared:
    """A read-only buffer owner (like a numpy array with ``writeable=False``)."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def __reduce_ex__(self, protocol: Any) -> Any:
        return Shared, (pickle.PickleBuffer(self.data),)


@task(backend="process")
def inspect_buffer(shared: Shared) -> tuple[str, bool, int, int]:
    data = shared.data
    owner = data.obj if isinstance(data, memoryview) else data
    return type(data).__name__, memoryview(data).readonly, id(owner), len(data)


def test_a_read_only_buffer_goes_to_each_worker_once() -> None:
    import mmap

    region = mmap.mmap(-1, SIZE, access=mmap.ACCESS_READ)  # read-only, weakly referenceable
    shared = Shared(region)
    with TaskRunner(max_workers=1) as runner:
        handles = [runner.submit(inspect_buffer, shared) for _ in range(5)]
        runner.run()
    seen = [h.result() for h in handles]
    # Every task loaded the same read-only copy in the worker: it was sent once.
    assert {(kind, readonly, size) for kind, readonly, _, size in seen} == {
        ("memoryview", True, SIZE)
    }
    assert len({owner for _, _, owner, _ in seen}) == 1


def test_a_writable_buffer_travels_whole_every_time() -> None:
    data = bytearray(SIZE)
    with TaskRunner(max_workers=1) as runner:
        first = runner.submit(checksum, Frame(data), 0)
        runner.run()
        data[0] = 7  # changed in place between the two tasks: the second must see it
        second = runner.submit(checksum, Frame(data), 0)
        runner.run()
    assert second.result() - first.result() == 7
