"""Scheduled jobs: two simulated hours on a fake clock, then a few real fires.

Part 1 drives a `Scheduler` with an injected clock and `tick()`: an interval job, a cron job
and a one-shot job over two hours of simulated time, in a fraction of a second and with the
same output every time. That is how a scheduled workflow is tested.

Part 2 runs a job on the real clock the way a service does, with `start()` and `stop()`:
the scheduler's background thread fires it every 50 ms until it has run three times.

    uv run python examples/scheduled_job.py
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from pyworkflowy import TaskHandle, TaskRunner, task
from pyworkflowy.schedule import Job, Scheduler

START = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)


class FakeClock:
    """Epoch seconds that move only when told to."""

    def __init__(self, now: datetime) -> None:
        self.now = now.timestamp()

    def __call__(self) -> float:
        return self.now


@task
def sync_inbox(account: str) -> str:
    return f"synced {account}"


@task
def hourly_report() -> str:
    return "report sent"


@task
def migrate(version: int) -> str:
    return f"migrated to v{version}"


def simulate(minutes: int = 120) -> list[str]:
    """Tick once per simulated minute; return one line per run, in firing order."""
    clock = FakeClock(START)
    lines: list[str] = []
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock, tz="UTC")
        jobs: list[Job] = [
            sched.every(timedelta(minutes=20)).do(sync_inbox, "ops@example.com"),
            sched.cron("0 * * * *").do(hourly_report),
            sched.at(START + timedelta(minutes=90)).do(migrate, 7),
        ]
        for job in jobs:
            print(f"  job {job.id}: {job.schedule}, first at {job.next_run:%H:%M}")
        for _ in range(minutes):
            clock.now += 60
            fired = sched.tick()
            if fired:
                runner.run()
            at = datetime.fromtimestamp(clock.now, UTC)
            lines += [f"{at:%H:%M}  {h.name.rsplit('.', 1)[-1]:<13} -> {h.result()}" for h in fired]
        assert not jobs[2].active, "the one-shot job is over once it has fired"
    return lines


@task
def beat(fires: list[float], enough: threading.Event) -> int:
    fires.append(time.monotonic())
    if len(fires) == 3:
        enough.set()
    return len(fires)


def real_clock(interval: float = 0.05, count: int = 3) -> list[float]:
    """Fire a job on the real clock until it has run ``count`` times; return the fire times."""
    fires: list[float] = []
    enough = threading.Event()
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner)
        job = sched.every(interval).do(beat, fires, enough)
        began = time.monotonic()
        sched.start()  # a background thread; the runner serves while the scheduler runs
        try:
            if not enough.wait(timeout=30):
                raise SystemExit("the scheduler did not fire three times within 30 s")
        finally:
            sched.stop()  # waits for the runs already submitted
        handles: list[TaskHandle] = job.handles
    assert all(h.done() for h in handles)
    return [t - began for t in fires[:count]]


def main() -> None:
    print("simulated clock, tick() once a minute from 00:00 UTC:")
    lines = simulate()
    for line in lines:
        print(f"  {line}")
    print(f"  {len(lines)} runs in 2 simulated hours")

    print("real clock, every(0.05) on the scheduler's thread:")
    offsets = real_clock()
    for n, offset in enumerate(offsets, 1):
        print(f"  fire {n} at +{offset * 1000:.0f} ms")


if __name__ == "__main__":
    main()
