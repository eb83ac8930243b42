"""Part of `ProcessBackend`: the read-only buffers each worker process keeps.

A large read-only buffer (a numpy array with ``writeable=False``, a read-only mmap, ...)
cannot change while its owner lives, so it is sent to each worker once: its owner gets a
token, each worker keeps the buffers it was sent (`Worker.shared`, least recently used
evicted), and a later call refers to the token instead of sending the bytes again.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._pool import Worker

__all__ = ["SHARE_LIMIT", "SHARE_MIN", "BufferSharing"]

SHARE_MIN = 1 << 20  # bytes: a smaller read-only buffer is simply sent again
SHARE_LIMIT = 512 << 20  # bytes of shared buffers each worker keeps at most
_EMPTY = memoryview(b"")


def _dead() -> None:
    return None


class BufferSharing:
    """Part of `ProcessBackend`: which buffers a call sends whole, which by token."""

    _tokens: dict[int, int]  # id() of a read-only buffer's owner -> token
    _owners: dict[int, weakref.ref[Any]]  # token -> the owner, weakly
    _next_token: int

    def _share(
        self, worker: Worker, buffers: list[memoryview]
    ) -> tuple[list[int], list[memoryview], list[int]]:
        """Which buffers go whole and which the worker already has.

        A read-only buffer of at least `SHARE_MIN` bytes whose owner (a numpy array with
        ``writeable=False``, a read-only mmap, ...) can be weakly referenced cannot change
        while it lives, so each worker gets it once and keeps it: its token is ``t`` when
        sent (the worker stores it), ``-t`` when the worker has it. A writable buffer always
        travels whole (token 0): it may have changed since. Each worker keeps at most
        `SHARE_LIMIT` bytes, least recently used evicted; a token whose owner has died is
        evicted too. Returns the tokens, the buffers to write, and the evicted tokens.
        """
        tokens: list[int] = []
        sent: list[memoryview] = []
        held, evicted = worker.shared, []
        for token in [t for t in held if self._owners.get(t, _dead)() is None]:
            del held[token]
            evicted.append(token)
            self._owners.pop(token, None)
        for buffer in buffers:
            owner = buffer.obj
            token = 0
            if buffer.readonly and buffer.nbytes >= SHARE_MIN:
                token = self._token_of(owner)
            if token and token in held:
                held[token] = held.pop(token)  # most recently used
                tokens.append(-token)
                sent.append(_EMPTY)
                continue
            if token:
                while held and sum(held.values()) + buffer.nbytes > SHARE_LIMIT:
                    oldest = next(iter(held))
                    del held[oldest]
                    evicted.append(oldest)
                if buffer.nbytes <= SHARE_LIMIT:
                    held[token] = buffer.nbytes
                else:
                    token = 0
            tokens.append(token)
            sent.append(buffer)
        return tokens, sent, evicted

    def _token_of(self, owner: Any) -> int:
        """The token of a buffer owner, new for an object not seen alive before; 0 if it
        cannot be weakly referenced."""
        known = self._tokens.get(id(owner))
        if known is not None and self._owners.get(known, _dead)() is owner:
            return known
        try:
            ref = weakref.ref(owner)
        except TypeError:
            return 0
        self._next_token += 1
        token = self._next_token
        self._tokens[id(owner)] = token
        self._owners[token] = ref
        if len(self._tokens) > 4 * len(self._owners) + 64:  # ids of dead owners: drop them
            self._tokens = {k: t for k, t in self._tokens.items() if t in self._owners}
        return token
