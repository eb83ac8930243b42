"""Task definitions: the `Task` type, the `@task` decorator and the `TaskBase` class form."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    ParamSpec,
    TypeAlias,
    TypedDict,
    TypeVar,
    Unpack,
    overload,
)

from ._callables import check_body
from ._context import get_current_runner
from ._options import OPTION_NAMES, UPSTREAM_TRIGGERS, TaskOptions, take_pool, take_triggers

if TYPE_CHECKING:
    from ._handle import TaskHandle
    from ._outputs import MapOutput
    from ._runner import TaskRunner

__all__ = ["AsyncTask", "Task", "TaskBase", "TaskOptionArgs", "task"]

P = ParamSpec("P")
R = TypeVar("R")
Deps: TypeAlias = "Iterable[TaskHandle[Any]] | TaskHandle[Any] | None"
if TYPE_CHECKING:  # defaults (PEP 696): a plain TaskBase subclass is a TaskBase[..., Any]
    from typing_extensions import ParamSpec as _ParamSpec
    from typing_extensions import TypeVar as _TypeVar

    BP = _ParamSpec("BP", default=...)
    BR = _TypeVar("BR", default=Any)
else:
    BP, BR = ParamSpec("BP"), TypeVar("BR")

_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect (import time)


class TaskOptionArgs(TypedDict, total=False):
    """The keyword options of ``@task(...)`` and ``Task(fn, ...)`` (see `TaskOptions`)."""

    name: str | None
    backend: str | None
    retries: int | None
    max_attempts: int | None
    timeout: float | None
    backoff: str
    backoff_base: float
    backoff_max: float
    retry_on: type[BaseException] | tuple[type[BaseException], ...]
    on_dep_failure: str
    tags: str | Iterable[str] | None
    cache: bool
    cache_key: Callable[..., str | None] | None
    cache_ttl: float | None
    idempotent: bool


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
    """``module.qualname``, the same in every run of the program (handle ids, and so
    resume, rest on it).

    A script's module is named as it would be imported (``python etl.py`` and ``import
    etl`` give the same names); a lambda after where it is defined (``mod.<lambda>:12:8``,
    line and column, or a digest of its code where Python keeps no column); a partial
    after what it wraps (``partial(mod.f)``); a callable object after its class.
    """
    if isinstance(fn, functools.partial):
        return f"partial({derive_name(fn.func)})"
    qualname = getattr(fn, "__qualname__", None)
    if qualname is None:  # a callable object: its class names it
        kind = type(fn)
        return f"{module_name(kind.__module__)}.{kind.__qualname__}"
    module = module_name(getattr(fn, "__module__", None) or type(fn).__module__)
    if getattr(fn, "__name__", None) == "<lambda>":
        code = getattr(fn, "__code__", None)
        if code is None:
            return f"{module}.{qualname}"
        column = next((col for _, _, col, _ in code.co_positions() if col), None)
        if column is None:  # 3.12+ keeps no column for some bodies: a digest of the code
            import hashlib

            body = code.co_code + repr(code.co_consts).encode()
            column = hashlib.blake2b(body, digest_size=3).hexdigest()
        return f"{module}.{qualname}:{code.co_firstlineno}:{column}"
    return f"{module}.{qualname}"


def module_name(module: str) -> str:
    """``module``, with ``__main__`` as the name the script would be imported under."""
    if module != "__main__":
        return module
    import sys

    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return spec.name  # python -m package.module
    path = getattr(main, "__file__", None)
    if not path:
        return module  # an interactive session
    from pathlib import Path

    file = Path(path).resolve()
    if file.suffix != ".py":
        return module
    parts = [file.stem]
    folder = file.parent
    while (folder / "__init__.py").is_file():  # inside a package: its dotted name
        parts.append(folder.name)
        folder = folder.parent
    return ".".join(reversed(parts))


class Task(Generic[P, R]):
    """A callable plus its `TaskOptions`. Call it directly, or `submit` it to a runner.

    The options read on every attempt (``backend``, ``timeout``) are kept as attributes
    too; every option is also readable as ``task.<option>``.

    Generic in the function's parameters ``P`` and its result ``R`` (an ``async def``'s
    awaited result): ``submit`` is checked against ``P`` and gives a ``TaskHandle[R]``.
    An ``async def`` makes an `AsyncTask`, whose direct call returns the coroutine.
    """

    __slots__ = (
        "__dict__",
        "__weakref__",
        "backend",
        "fn",
        "is_async",
        "name",
        "options",
        "special",
        "timeout",
    )
    fn: Callable[..., Any]
    options: TaskOptions
    name: str
    is_async: bool
    backend: str | None
    timeout: float | None
    special: bool  # tagged or cached: its handles need the engine's slower path

    @overload
    def __new__(
        cls, fn: Callable[P, Coroutine[Any, Any, R]], **options: Unpack[TaskOptionArgs]
    ) -> AsyncTask[P, R]: ...
    @overload
    def __new__(cls, fn: Callable[P, R], **options: Unpack[TaskOptionArgs]) -> Task[P, R]: ...
    def __new__(cls, fn: Callable[..., Any], **options: Any) -> Any:
        # All set up here, with no __init__: type checkers then read the overloads above.
        if not callable(fn):
            raise TypeError(f"a task needs a callable, got {fn!r}")
        take_pool(options, stacklevel=2)
        upstream = take_triggers(options, stacklevel=3)
        name = options.pop("name", None)
        if name is None:
            name = derive_name(fn)
        elif not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        else:
            name = str.__str__(name)  # a plain str, even from a StrEnum or other subclass
        check_body(fn, name)
        is_async = is_async_callable(fn)
        self = object.__new__(AsyncTask if is_async and cls is Task else cls)
        self.options = opts = TaskOptions.build(name, is_async, **options)
        self.fn = fn
        self.name = name
        self.is_async = is_async
        self.backend = opts.backend
        self.timeout = opts.timeout
        self.special = bool(opts.tags) or opts.cache
        if upstream is not None:
            self.triggers, self.payload_map = upstream
        functools.update_wrapper(self, fn, updated=())  # type: ignore[arg-type]
        return self

    triggers: tuple[str, ...] = ()
    """Deprecated: upstream 0.2-0.4's event names, read by ``Scheduler.bind_tasks``."""
    payload_map: dict[str, str] | None = None
    """Deprecated: upstream 0.2-0.4's payload mapping for ``Scheduler.bind_tasks``."""

    # The options, read through (one home: `TaskOptions`).
    retries = property(lambda self: self.options.retries, doc="Retries after the first attempt.")
    max_attempts = property(lambda self: self.options.retries + 1, doc="``retries + 1``.")
    backoff = property(lambda self: self.options.backoff, doc="none, linear or exponential.")
    backoff_base = property(lambda self: self.options.backoff_base, doc="The backoff base (s).")
    backoff_max = property(lambda self: self.options.backoff_max, doc="The backoff cap (s).")
    retry_on = property(lambda self: self.options.retry_on, doc="Exceptions that are retried.")
    on_dep_failure = property(
        lambda self: self.options.on_dep_failure, doc="fail, skip or run-anyway."
    )
    tags = property(lambda self: self.options.tags, doc="Tags, for the runner's limits.")
    cache = property(lambda self: self.options.cache, doc="Whether results are cached.")
    cache_key = property(lambda self: self.options.cache_key, doc="The cache key function.")
    cache_ttl = property(lambda self: self.options.cache_ttl, doc="Cache entries' life (s).")
    idempotent = property(
        lambda self: self.options.idempotent, doc="False: never re-run an in-doubt attempt."
    )

    def backoff_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), capped."""
        return self.options.backoff_delay(attempt)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function directly, bypassing any runner."""
        return self.fn(*args, **kwargs)

    # Type checkers check the arguments against ``P`` (Python's ParamSpec allows no other
    # keyword beside them: with ``depends_on``, ``key``, ``tags`` or ``runner`` they are not
    # checked).
    @overload
    def submit(self, *args: P.args, **kwargs: P.kwargs) -> TaskHandle[R]: ...
    @overload
    def submit(
        self,
        *args: Any,
        depends_on: Deps,
        key: str | None = None,
        runner: TaskRunner | None = None,
        **kwargs: Any,
    ) -> TaskHandle[R]: ...
    @overload
    def submit(
        self, *args: Any, key: str | None, runner: TaskRunner | None = None, **kwargs: Any
    ) -> TaskHandle[R]: ...
    @overload
    def submit(self, *args: Any, runner: TaskRunner | None, **kwargs: Any) -> TaskHandle[R]: ...
    @overload
    def submit(
        self, *args: Any, tags: str | Iterable[str] | None, **kwargs: Any
    ) -> TaskHandle[R]: ...
    def submit(
        self,
        *args: Any,
        runner: TaskRunner | None = None,
        depends_on: Iterable[TaskHandle[Any]] | TaskHandle[Any] | None = (),
        key: str | None = None,
        tags: str | Iterable[str] | None = None,
        **kwargs: Any,
    ) -> TaskHandle[R]:
        """Enqueue on ``runner`` or on the runner of the enclosing ``with TaskRunner()``."""
        return self._runner(runner).submit(
            self, *args, depends_on=depends_on, key=key, tags=tags, **kwargs
        )

    @overload
    def map(
        self,
        first: MapOutput,
        /,
        *iterables: Iterable[Any],
        runner: TaskRunner | None = None,
        depends_on: Deps = (),
    ) -> TaskHandle[list[R]]: ...
    @overload
    def map(
        self,
        first: Iterable[Any],
        second: MapOutput,
        /,
        *iterables: Iterable[Any],
        runner: TaskRunner | None = None,
        depends_on: Deps = (),
    ) -> TaskHandle[list[R]]: ...
    @overload
    def map(
        self, *iterables: Iterable[Any], runner: TaskRunner | None = None, depends_on: Deps = ()
    ) -> list[TaskHandle[R]]: ...
    def map(
        self,
        *iterables: Iterable[Any],
        runner: TaskRunner | None = None,
        depends_on: Iterable[TaskHandle[Any]] | TaskHandle[Any] | None = (),
    ) -> Any:
        """Submit one run per item of ``iterables`` (see `TaskRunner.map`).

        Over ``h.output`` (an upstream's value): one handle, whose value is the list of
        the results (see `TaskRunner.map`).
        """
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
        return f"<Task {self.name!r} backend={backend} retries={self.options.retries}>"


class AsyncTask(Task[P, R]):
    """The `Task` of an ``async def``: a direct call returns the coroutine; its handles
    resolve to what the coroutine returns."""

    __slots__ = ()

    if TYPE_CHECKING:

        def __call__(  # type: ignore[override]
            self, *args: P.args, **kwargs: P.kwargs
        ) -> Coroutine[Any, Any, R]: ...


class TaskDecorator:
    """What ``@task(**options)`` returns: it makes the `Task` of the function it decorates."""

    __slots__ = ("options",)

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> AsyncTask[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> Task[P, R]: ...
    def __call__(self, fn: Callable[..., Any], /) -> Any:
        return Task(fn, **self.options)


@overload
def task(fn: Callable[P, Coroutine[Any, Any, R]], /) -> AsyncTask[P, R]: ...
@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...
@overload
def task(fn: None = None, /, **options: Unpack[TaskOptionArgs]) -> TaskDecorator: ...
def task(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Turn a function into a `Task`; use bare (``@task``) or with options (``@task(retries=2)``).

    Options are validated here, at definition time, so a typo fails at import, not mid-run.
    """
    if fn is not None:
        if options:
            raise TypeError("use @task or @task(**options), not task(fn, **options)")
        return Task(fn)
    take_pool(options, stacklevel=2)
    unknown = set(options) - OPTION_NAMES - UPSTREAM_TRIGGERS
    if unknown:
        raise TypeError(
            f"@task got unknown option(s) {sorted(unknown)}; known: {sorted(OPTION_NAMES)}"
        )
    return TaskDecorator(options)


class TaskBase(Generic[BP, BR]):
    """Class form of a task: class attributes configure it, ``run`` is the body.

    Instantiating a subclass takes no arguments and returns a `Task`, the same type
    ``@task`` produces. Runtime values go to ``submit(*args, **kwargs)`` and on to ``run``.
    The class attributes are the `TaskOptions` fields (plus ``max_attempts``).

    For type checkers, name ``run``'s parameters and result in the base:
    ``class Fetch(TaskBase[[str], bytes])`` (then ``Fetch()`` is a ``Task[[str], bytes]``
    and ``run`` is checked against them); a plain ``TaskBase`` subclass is a
    ``Task[..., Any]``.
    """

    name: ClassVar[str | None] = None
    backend: ClassVar[str | None] = None
    retries: ClassVar[int | None] = None
    max_attempts: ClassVar[int | None] = None
    timeout: ClassVar[float | None] = None
    backoff: ClassVar[str] = "none"
    backoff_base: ClassVar[float] = 1.0
    backoff_max: ClassVar[float] = 60.0
    retry_on: ClassVar[type[BaseException] | tuple[type[BaseException], ...]] = Exception
    on_dep_failure: ClassVar[str] = "fail"
    tags: ClassVar[str | Iterable[str] | None] = None
    cache: ClassVar[bool] = False
    cache_ttl: ClassVar[float | None] = None
    idempotent: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.run is not TaskBase.run:
            cls._build(object.__new__(cls))  # validate the options at class definition

    def __new__(cls: type[TaskBase[BP, BR]], *args: Any, **kwargs: Any) -> Task[BP, BR]:  # type: ignore[misc]
        if args or kwargs:
            raise TypeError(
                f"{cls.__qualname__}() takes no arguments: configure the task with class "
                "attributes and pass runtime values to submit(...)"
            )
        if cls.run is TaskBase.run:
            raise TypeError(f"{cls.__qualname__} must define a run() method")
        return cls._build(object.__new__(cls))

    @classmethod
    def _build(cls, instance: TaskBase[Any, Any]) -> Task[Any, Any]:
        options: dict[str, Any] = {option: getattr(cls, option) for option in OPTION_NAMES}
        if cls.cache_key is not TaskBase.cache_key:  # defined: a method, used bound
            options["cache_key"] = instance.cache_key
        else:
            options["cache_key"] = None
        options["name"] = cls.name or f"{cls.__module__}.{cls.__qualname__}"
        pool = getattr(cls, "pool", None)
        if pool is not None:  # upstream 0.x's class attribute
            options["pool"] = pool
            take_pool(options, stacklevel=3)
        for name in UPSTREAM_TRIGGERS:  # upstream 0.2-0.4's event wiring
            if getattr(cls, name, None):
                options[name] = getattr(cls, name)
        return Task(instance.run, **options)

    def run(self, *args: BP.args, **kwargs: BP.kwargs) -> BR | Coroutine[Any, Any, BR]:
        """The task body; ``def`` or ``async def``."""
        raise NotImplementedError

    def cache_key(self, *args: BP.args, **kwargs: BP.kwargs) -> str | None:
        """Define it to key the cache by what it returns for ``run``'s arguments (``None``:
        that call is not cached); defining it turns caching on, as ``cache_key=`` does."""
        return None
