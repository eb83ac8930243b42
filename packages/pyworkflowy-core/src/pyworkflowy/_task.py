"""Task definitions: the `Task` type, the `@task` decorator and the `TaskBase` class form."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, overload

from ._backends import check_backend_name
from ._context import get_current_runner
from ._types import BACKOFFS, DEP_FAILURE_POLICIES

if TYPE_CHECKING:
    from ._handle import TaskHandle
    from ._runner import TaskRunner

__all__ = ["Task", "TaskBase", "task"]

_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect (import time)
_DEFAULT_BACKOFF_BASE = 1.0
_DEFAULT_BACKOFF_MAX = 60.0


def is_async_callable(fn: Callable[..., Any]) -> bool:
    """True if calling ``fn`` returns a coroutine (``async def`` functions, methods, partials)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is not None:
        return bool(code.co_flags & _CO_COROUTINE)
    if not isinstance(fn, type):
        code = getattr(getattr(type(fn), "__call__", None), "__code__", None)  # noqa: B004
        if code is not None:
            return bool(code.co_flags & _CO_COROUTINE)
    import inspect

    return inspect.iscoroutinefunction(fn)


def derive_name(fn: Callable[..., Any]) -> str:
    """``module.qualname``; anonymous callables get an ``@id`` suffix so they never collide."""
    module = getattr(fn, "__module__", None) or type(fn).__module__
    qualname = getattr(fn, "__qualname__", None)
    if qualname is None:  # partials, callable instances: anonymous
        return f"{module}.{type(fn).__qualname__}@{id(fn):x}"
    if getattr(fn, "__name__", None) == "<lambda>":
        return f"{module}.{qualname}@{id(fn):x}"
    return f"{module}.{qualname}"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_retry_on(retry_on: object) -> tuple[type[BaseException], ...]:
    classes = retry_on if isinstance(retry_on, tuple) else (retry_on,)
    if not classes or not all(
        isinstance(c, type) and issubclass(c, BaseException) for c in classes
    ):
        raise ValueError(
            f"retry_on must be an exception class or a tuple of them, got {retry_on!r}"
        )
    return classes  # type: ignore[return-value]


class Task:
    """A callable plus its execution options. Call it directly, or `submit` it to a runner."""

    __slots__ = (
        "__dict__",
        "__weakref__",
        "backend",
        "backoff",
        "backoff_base",
        "backoff_max",
        "fn",
        "is_async",
        "name",
        "on_dep_failure",
        "retries",
        "retry_on",
        "timeout",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        backend: str | None = None,
        retries: int | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        backoff: str = "none",
        backoff_base: float = _DEFAULT_BACKOFF_BASE,
        backoff_max: float = _DEFAULT_BACKOFF_MAX,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
        on_dep_failure: str = "fail",
    ) -> None:
        if not callable(fn):
            raise TypeError(f"a task needs a callable, got {fn!r}")
        if name is None:
            name = derive_name(fn)
        elif not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        else:
            name = str.__str__(name)  # a plain str, even from a StrEnum or other subclass
        where = f"task {name!r}"
        if retries is not None and max_attempts is not None:
            raise ValueError(
                f"{where}: pass retries={retries!r} or max_attempts={max_attempts!r}, not both "
                "(max_attempts=N means retries=N-1)"
            )
        if max_attempts is not None:
            if (
                not isinstance(max_attempts, int)
                or isinstance(max_attempts, bool)
                or max_attempts < 1
            ):
                raise ValueError(
                    f"{where}: max_attempts must be an integer >= 1, got {max_attempts!r}"
                )
            retries = max_attempts - 1
        if retries is None:
            retries = 0
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ValueError(f"{where}: retries must be an integer >= 0, got {retries!r}")
        if timeout is not None and (
            not _is_number(timeout) or not timeout > 0 or not math.isfinite(timeout)
        ):
            raise ValueError(
                f"{where}: timeout must be a number of seconds > 0 (or None), got {timeout!r}"
            )
        if backoff not in BACKOFFS:
            raise ValueError(f"{where}: backoff must be one of {BACKOFFS}, got {backoff!r}")
        for option, value in (("backoff_base", backoff_base), ("backoff_max", backoff_max)):
            if not _is_number(value) or not value >= 0 or math.isnan(value):
                raise ValueError(f"{where}: {option} must be a number >= 0, got {value!r}")
        if math.isinf(backoff_base):  # backoff_max may be inf: no cap
            raise ValueError(f"{where}: backoff_base must be finite, got {backoff_base!r}")
        if on_dep_failure not in DEP_FAILURE_POLICIES:
            raise ValueError(
                f"{where}: on_dep_failure must be one of {DEP_FAILURE_POLICIES}, "
                f"got {on_dep_failure!r}"
            )
        try:
            retry_classes = _check_retry_on(retry_on)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        is_async = is_async_callable(fn)
        if backend is not None:
            check_backend_name(backend, where)
            if is_async and backend != "asyncio":
                raise ValueError(
                    f"{where}: async functions need the event loop, so backend={backend!r} "
                    "cannot run them; use backend='asyncio' or make the function sync"
                )
        self.fn = fn
        self.name = name
        self.backend = backend
        self.retries = retries
        self.timeout = None if timeout is None else float(timeout)
        self.backoff = backoff
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.retry_on = retry_classes
        self.on_dep_failure = on_dep_failure
        self.is_async = is_async
        functools.update_wrapper(self, fn, updated=())  # type: ignore[arg-type]

    @property
    def max_attempts(self) -> int:
        """Attempts including the first: ``retries + 1``."""
        return self.retries + 1

    def backoff_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), capped."""
        if self.backoff == "linear":
            delay = self.backoff_base * attempt
        elif self.backoff == "exponential":
            delay = self.backoff_base * 2.0 ** (attempt - 1)
        else:
            return 0.0
        return min(delay, self.backoff_max)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly, bypassing any runner."""
        return self.fn(*args, **kwargs)

    def submit(
        self,
        *args: Any,
        runner: TaskRunner | None = None,
        depends_on: Iterable[TaskHandle] = (),
        key: str | None = None,
        **kwargs: Any,
    ) -> TaskHandle:
        """Enqueue on ``runner`` or on the runner of the enclosing ``with TaskRunner()``."""
        return self._runner(runner).submit(self, *args, depends_on=depends_on, key=key, **kwargs)

    def map(
        self,
        *iterables: Iterable[Any],
        runner: TaskRunner | None = None,
        depends_on: Iterable[TaskHandle] = (),
    ) -> list[TaskHandle]:
        """Submit one run per item of ``iterables`` (see `TaskRunner.map`)."""
        return self._runner(runner).map(self, *iterables, depends_on=depends_on)

    def _runner(self, runner: TaskRunner | None) -> TaskRunner:
        if runner is None:
            runner = get_current_runner()
            if runner is None:
                raise RuntimeError(
                    f"no active runner for task {self.name!r}: submit inside "
                    "'with TaskRunner() as runner:', pass runner=..., "
                    "or call runner.submit(task, ...)"
                )
        return runner

    def __repr__(self) -> str:
        backend = self.backend or "runner default"
        return f"<Task {self.name!r} backend={backend} retries={self.retries}>"


@overload
def task(fn: Callable[..., Any], /) -> Task: ...
@overload
def task(
    fn: None = None,
    /,
    *,
    name: str | None = ...,
    backend: str | None = ...,
    retries: int | None = ...,
    max_attempts: int | None = ...,
    timeout: float | None = ...,
    backoff: str = ...,
    backoff_base: float = ...,
    backoff_max: float = ...,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = ...,
    on_dep_failure: str = ...,
) -> Callable[[Callable[..., Any]], Task]: ...
def task(
    fn: Callable[..., Any] | None = None, /, **options: Any
) -> Task | Callable[[Callable[..., Any]], Task]:
    """Turn a function into a `Task`; use bare (``@task``) or with options (``@task(retries=2)``).

    Options are validated here, at definition time, so a typo fails at import, not mid-run.
    """
    if fn is not None:
        if options:
            raise TypeError("use @task or @task(**options), not task(fn, **options)")
        return Task(fn)
    if options:
        # Validate now with a stand-in so a bad option fails at the decorator line.
        unknown = set(options) - _TASK_OPTIONS
        if unknown:
            raise TypeError(
                f"@task got unknown option(s) {sorted(unknown)}; known: {sorted(_TASK_OPTIONS)}"
            )

    def decorate(f: Callable[..., Any]) -> Task:
        return Task(f, **options)

    return decorate


_TASK_OPTIONS = frozenset(
    {
        "name",
        "backend",
        "retries",
        "max_attempts",
        "timeout",
        "backoff",
        "backoff_base",
        "backoff_max",
        "retry_on",
        "on_dep_failure",
    }
)


class TaskBase:
    """Class form of a task: class attributes configure it, ``run`` is the body.

    Instantiating a subclass takes no arguments and returns a `Task`, the same type
    ``@task`` produces. Runtime values go to ``submit(*args, **kwargs)`` and on to ``run``.
    """

    name: ClassVar[str | None] = None
    backend: ClassVar[str | None] = None
    retries: ClassVar[int | None] = None
    max_attempts: ClassVar[int | None] = None
    timeout: ClassVar[float | None] = None
    backoff: ClassVar[str] = "none"
    backoff_base: ClassVar[float] = _DEFAULT_BACKOFF_BASE
    backoff_max: ClassVar[float] = _DEFAULT_BACKOFF_MAX
    retry_on: ClassVar[type[BaseException] | tuple[type[BaseException], ...]] = Exception
    on_dep_failure: ClassVar[str] = "fail"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.run is not TaskBase.run:
            cls._build(object.__new__(cls))  # validate the options at class definition

    def __new__(cls, *args: Any, **kwargs: Any) -> Task:  # type: ignore[misc]
        if args or kwargs:
            raise TypeError(
                f"{cls.__qualname__}() takes no arguments: configure the task with class "
                "attributes and pass runtime values to submit(...)"
            )
        if cls.run is TaskBase.run:
            raise TypeError(f"{cls.__qualname__} must define a run() method")
        return cls._build(object.__new__(cls))

    @classmethod
    def _build(cls, instance: TaskBase) -> Task:
        return Task(
            instance.run,
            name=cls.name or f"{cls.__module__}.{cls.__qualname__}",
            backend=cls.backend,
            retries=cls.retries,
            max_attempts=cls.max_attempts,
            timeout=cls.timeout,
            backoff=cls.backoff,
            backoff_base=cls.backoff_base,
            backoff_max=cls.backoff_max,
            retry_on=cls.retry_on,
            on_dep_failure=cls.on_dep_failure,
        )

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """The task body; ``def`` or ``async def``."""
        raise NotImplementedError
