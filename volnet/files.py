"""Files volnet writes atomically (atomic_write), with the permissions an ordinary open() would give them.

volnet writes models, checkpoints and downloads to a temporary file in the target folder and
renames it over the target, so that a crash never leaves half a file. Python's temporary
files are created readable by their owner only (mode 0600); renamed into place as they are,
a model saved for a team or a dataset downloaded into a shared folder would be unreadable to
everyone else. `permissions_of_a_new_file` gives the temporary file the mode a file made with
open() gets instead: 0666 less the process's umask (0644 with the usual umask 022).
"""

from __future__ import annotations

import contextlib
import os
import tempfile


def permissions_of_a_new_file(descriptor: int):
    """Set an open file's mode to 0666 less the umask (what open() would have created)."""
    umask = os.umask(0)  # reading the umask means setting it; put it back at once
    os.umask(umask)
    os.fchmod(descriptor, 0o666 & ~umask)


@contextlib.contextmanager
def atomic_write(path):
    """Write a file atomically: yields a binary file in the target's folder; on leaving the
    block it is flushed, fsync'ed and renamed over `path` (os.replace), and the rename is
    made durable. If the block raises, the temporary file is removed and `path` is untouched.
    Missing folders are created.

    Raises:
        OSError: the folder cannot be created or written to (the message names it).
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    except OSError as error:  # name the folder, not the temporary file
        raise type(error)(error.errno, f"cannot write {path}: the folder {folder} cannot be created or written "
                                       f"to ({error.strerror})") from None
    try:
        permissions_of_a_new_file(handle)
        with os.fdopen(handle, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
