"""Writes that survive a crash once they return: fsync'd files on a local lake, one PUT per object remotely.

`LakeStorage.write_bytes` is atomic (temporary name, rename) but not durable: after a power cut the rename may
be lost, or the file may be there with no content. The ingest answers 2xx only after its files are durable, so
it writes through `DurableStorage`: write, fsync the file, rename, fsync the folder (and the parents of any
folder it had to create, so the new folder's entry is durable too).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass

from clawtrace_pipelines.core.lake.storage import LakeStorage


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Staged:
    """A local file written and fsync'd under a temporary name, not yet in place."""

    tmp: str
    path: str
    parent: str


class DurableStorage(LakeStorage):
    """`LakeStorage` whose `write_bytes` returns only once the object is durable (safe from several threads).

    Local writes also come in two steps, so a caller can overlap the fsyncs of many files: `stage` (write and
    fsync a temporary file), then `publish` (rename into place; durable once `fsync_dir` ran on its folder)."""

    def write_bytes(self, relpath: str, data: bytes) -> None:
        if self.settings.lake_is_remote:
            # An object store PUT is atomic and durable when it returns.
            self.fs.pipe_file(self.full(relpath), data)
            return
        staged = self.stage(relpath, data)
        self.publish(staged)
        fsync_dir(staged.parent)

    def stage(self, relpath: str, data: bytes) -> Staged:
        path = self.full(relpath)
        parent = path.rsplit("/", 1)[0]
        self._make_dirs(parent)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileNotFoundError:
            # The folder went away since it was made (old arrival days are pruned): make it again.
            self._made_dirs.discard(parent)
            self._make_dirs(parent)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            self.discard(Staged(tmp, path, parent))
            raise
        return Staged(tmp, path, parent)

    def publish(self, staged: Staged) -> None:
        os.replace(staged.tmp, staged.path)

    def discard(self, staged: Staged) -> None:
        with contextlib.suppress(OSError):
            os.unlink(staged.tmp)

    def remove(self, relpath: str) -> None:
        """Delete a file if it is there (cleaning up after a failed group write)."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.full(relpath))

    def _make_dirs(self, folder: str) -> None:
        if folder in self._made_dirs:
            return
        missing = []
        at = folder
        while not os.path.isdir(at):
            missing.append(at)
            at = os.path.dirname(at)
        # Top down, each new folder's entry made durable in its parent before anything goes inside it.
        for new in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(new)
            fsync_dir(os.path.dirname(new))
        self._made_dirs.add(folder)
