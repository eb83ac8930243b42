"""pyworkflowy.schedule: run pyworkflowy tasks at intervals, on cron schedules, or once.

``Scheduler`` submits jobs to a ``TaskRunner`` when they are due; ``parse_cron`` validates
a cron expression and answers its next fire times. Cron arithmetic is croniter's.
"""

from ._cron import CronExpression, parse_cron
from ._jobs import Job, JobBuilder, Misfire
from ._scheduler import Scheduler

__version__ = "0.1.1"

__all__ = ["CronExpression", "Job", "JobBuilder", "Misfire", "Scheduler", "parse_cron"]
