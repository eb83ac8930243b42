"""pyworkflowy.schedule: run pyworkflowy tasks at intervals, on cron schedules, or once.

``Scheduler`` submits jobs to a ``TaskRunner`` when they are due; ``parse_cron`` validates
a cron expression and answers its next fire times. Cron arithmetic is croniter's.
"""

from ._cron import CronExpression, parse_cron
from ._events import EventHandler, EventSource
from ._jobs import Job, JobBuilder, Misfire
from ._scheduler import Scheduler

__version__ = "0.2.0"

ScheduledJob = Job
"""Upstream pyworkflowy 0.x's name for `Job` (the same class)."""

__all__ = [
    "CronExpression",
    "EventHandler",
    "EventSource",
    "Job",
    "JobBuilder",
    "Misfire",
    "ScheduledJob",
    "Scheduler",
    "parse_cron",
]
