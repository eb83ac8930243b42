"""Atomic file writes and the in-memory base shared by the JSON and pickle checkpointers."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import threading
from abc import abstractmethod
from collections.abc import Collection, Mapping
from pathlib import Path

from pyworkflowy import Checkpointer, CheckpointError

from ._hold import Hold
from ._records import Record, RecordColumns, columns_of, merge, records_of, without

__all__ = [
    "MAX_SEGMENTS",
    "FileCheckpointer",
    "check_writable",
    "fsync_directory",
    "write_atomic",
]


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file.

    The bytes go to a temporary file (mode 0600) in the same folder, which is fsync'd and
    renamed over ``path`` with `os.replace`; then the folder is fsync'd so the rename
    itself survives a power loss. A symbolic link is written through: its target is
    replaced, the link stays.
    """
    path = Path(os.path.realpath(path))
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(directory)


def check_writable(path: Path, where: str) -> None:
    """Raise `CheckpointError` now if a checkpoint could not be kept at ``path`` (a folder
    in its place, a folder that is missing or read-only, a file this user cannot use),
    rather than after the run's tasks have run. A symlink is checked at its target."""
    target = Path(os.path.realpath(path))
    if target.is_dir():
        example = target / f"checkpoint{path.suffix or '.json'}"
        raise CheckpointError(f"{where} is a directory: give a file path, e.g. {str(example)!r}")
    folder = target.parent
    if not folder.is_dir():
        raise CheckpointError(
            f"cannot use {where}: its folder {str(folder)!r} does not exist or is not a "
            "folder; create it, or choose another checkpoint path"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=folder)
    except OSError as exc:
        raise CheckpointError(
            f"cannot use {where}: its folder {str(folder)!r} is not writable ({exc}); "
            "choose a checkpoint path in a folder this user can write"
        ) from exc
    os.close(fd)
    os.unlink(probe)
    if target.exists() and not os.access(target, os.R_OK | os.W_OK):
        raise CheckpointError(
            f"cannot use {where}: this user cannot read and write the file; fix its "
            "permissions, or choose another checkpoint path"
        )


def fsync_directory(directory: Path) -> None:
    """Flush a folder's entries (a rename or a new file) to disk; a no-op on Windows."""
    if os.name == "nt":  # a folder cannot be opened there; NTFS journals renames itself
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot sync a folder: nothing more to do
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


class _Segment:
    """The records of one save, with their encoded bytes once made (kept for rewrites)."""

    __slots__ = ("columns", "data")

    def __init__(self, columns: RecordColumns, data: bytes | None = None) -> None:
        self.columns = columns
        self.data = data


#: more segments than this are merged into one on the next save (compaction)
MAX_SEGMENTS = 64


class FileCheckpointer(Checkpointer):
    """Holds every record in memory and rewrites the whole file atomically on each save.

    The file is a list of segments, one per save, each encoded once and reused by every
    later rewrite; a later segment's record replaces an earlier one with the same id, and
    past `MAX_SEGMENTS` they are merged. ``load()`` fills the memory from the file, so
    later saves merge with what was loaded; ``clear()`` deletes the file and empties the
    memory. A file that cannot be read is never written over by ``save()``: it keeps
    raising `CheckpointError`.
    """

    #: how the format is named in messages ("JSON", "pickle")
    kind = ""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"{type(self).__name__} takes a file path (str or os.PathLike), "
                f"got {type(path).__name__}"
            )
        self.path = Path(path)
        self._segments: list[_Segment] | None = None  # None: the file was not read yet
        self._lock = threading.Lock()
        self._hold = Hold()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    # -- what subclasses provide ---------------------------------------------------------
    @abstractmethod
    def _encode_segment(self, columns: RecordColumns) -> bytes:
        """One segment's bytes; raise `CheckpointError` naming the record that failed."""

    @abstractmethod
    def _encode_file(self, segments: list[bytes]) -> bytes:
        """The whole file, from the encoded segments in order."""

    @abstractmethod
    def _decode(self, data: bytes) -> list[RecordColumns]:
        """The segments in ``data``; raise `CheckpointError` naming the path and the problem."""

    @abstractmethod
    def _is_ours(self, head: bytes) -> bool:
        """Whether a file starting with ``head`` was written by this checkpointer."""

    # -- the Checkpointer interface ------------------------------------------------------
    def load(self) -> dict[str, Record]:
        with self._lock:
            self._segments = [_Segment(columns) for columns in self._read()]
            return records_of([segment.columns for segment in self._segments])

    def save(self, records: Mapping[str, Record], removed: Collection[str] = ()) -> None:
        with self._lock:
            segments = self._segments
            if segments is None:  # first use without load() or clear(): merge with the file
                segments = self._segments = [_Segment(columns) for columns in self._read()]
            new = columns_of(records, self._where())
            # New segments, so that memory keeps matching the file if the write fails.
            if removed:
                gone = set(removed).difference(new.ids)
                segments = [
                    segment
                    if gone.isdisjoint(segment.columns.ids)
                    else _Segment(without(segment.columns, gone))
                    for segment in segments
                ]
            segments = [segment for segment in segments if segment.columns.ids]
            if new.ids:
                segments.append(_Segment(new))
            if len(segments) > MAX_SEGMENTS:
                segments = [_Segment(merge([segment.columns for segment in segments]))]
            for segment in segments:
                if segment.data is None:
                    segment.data = self._encode_segment(segment.columns)
            data = self._encode_file([segment.data for segment in segments if segment.data])
            try:
                write_atomic(self.path, data)
            except OSError as exc:
                raise CheckpointError(
                    f"cannot write the checkpoint {str(self.path)!r}: {exc}"
                ) from exc
            self._segments = segments

    def clear(self) -> None:
        """Delete the file (refusing one that is not a checkpoint) and empty the memory."""
        with self._lock:
            try:
                with open(self.path, "rb") as file:
                    head = file.read(4096)
            except FileNotFoundError:
                self._segments = []
                return
            except OSError as exc:
                raise CheckpointError(
                    f"cannot read the checkpoint {str(self.path)!r}: {exc}"
                ) from exc
            if head and not self._is_ours(head):
                raise CheckpointError(
                    f"{str(self.path)!r} is not a pyworkflowy {self.kind} checkpoint, so a "
                    "new run will not replace it: move or delete it, or choose another "
                    "checkpoint path"
                )
            try:
                os.unlink(os.path.realpath(self.path))  # a symlink's target; the link stays
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise CheckpointError(
                    f"cannot delete the checkpoint {str(self.path)!r}: {exc}"
                ) from exc
            self._segments = []

    def acquire(self) -> None:
        """Check that the file can be written (`check_writable`), then take the
        checkpoint for this process (`Hold`); `close` gives it back."""
        check_writable(self.path, self._where())
        self._hold.acquire(self, self.path, self._where())

    def close(self) -> None:
        """Drop the in-memory copy (the next use reads the file again) and the hold."""
        with self._lock:
            self._segments = None
        self._hold.release()

    # -- helpers -------------------------------------------------------------------------
    def _read(self) -> list[RecordColumns]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CheckpointError(f"cannot read the checkpoint {str(self.path)!r}: {exc}") from exc
        if not data:
            raise CheckpointError(
                f"the checkpoint {str(self.path)!r} is empty (truncated?): it holds no "
                f"{self.kind} data"
            )
        try:
            return self._decode(data)
        except CheckpointError:
            raise
        except Exception as exc:  # a failure _decode did not foresee: still this file's
            raise CheckpointError(
                f"{self._where()} cannot be read: {type(exc).__name__}: {exc}"
            ) from exc

    def _where(self) -> str:
        return f"the checkpoint {str(self.path)!r}"
