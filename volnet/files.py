"""Files volnet writes atomically (write_atomically), with the permissions an ordinary open()
would give them.

volnet writes models, checkpoints and downloads to a temporary file in the target folder and
renames it over the target, so that a crash never leaves half a file. Python's temporary
files are created readable by their owner only (mode 0600); renamed into place as they are,
a model saved for a team or a dataset downloaded into a shared folder would be unreadable to
everyone else. `permissions_of_a_new_file` gives the temporary file the mode a file made with
open() gets instead: 0666 less the process's umask (0644 with the usual umask 022).
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO


def permissions_of_a_new_file(descriptor: int):
    """Set an open file's mode to 0666 less the umask (what open() would have created)."""
    umask = os.umask(0)  # reading the umask means setting it; put it back at once
    os.umask(umask)
    os.fchmod(descriptor, 0o666 & ~umask)


def write_atomically(path, write: Callable[[BinaryIO], None], what: str = "file") -> None:
    """Write a file so that a crash leaves either the old file or the new one, never half of one.

    The content goes to a temporary file `.<name>.<pid>.<random>.tmp` in the target's folder
    (created if missing), which is flushed and fsync'ed, renamed over the target with
    os.replace, and the folder is fsync'ed so that the rename itself is durable — in that
    order. Temporary files that an earlier, killed write of the same target left behind (their
    process no longer runs) are removed first.

    Args:
        path: the file to write.
        write: called with the open binary file; writes the content.
        what: how messages name the file, e.g. "checkpoint".

    Raises:
        OSError: the folder or the file cannot be written (no space left, file too large,
            permission denied): the message names the file and says that the one already
            there, if any, is intact; its errno is the original one.
    """
    path = os.path.abspath(path)
    folder, name = os.path.split(path)
    try:
        os.makedirs(folder, exist_ok=True)
        remove_stale_temporaries(path)
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    except OSError as error:  # name the folder, not the temporary file
        raise _named(error, f"cannot write the {what} {path}: the folder {folder} cannot be created or written to "
                            f"({error.strerror or error})") from None
    try:
        permissions_of_a_new_file(handle)
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        os.unlink(temporary)
        if isinstance(error, OSError):
            before = "the earlier one there is intact" if os.path.exists(path) else "nothing was there before"
            raise _named(error, f"cannot write the {what} {path} ({error.strerror or error}); {before}") from None
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def remove_stale_temporaries(path) -> list[str]:
    """Remove the temporary files of `path` left by writes whose process was killed (see
    write_atomically); those of a process still running are left alone. Returns the removed ones."""
    folder, name = os.path.split(os.path.abspath(path))
    removed = []
    for temporary in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.*.tmp")):
        pid = os.path.basename(temporary)[len(name) + 2:].split(".")[0]
        if pid.isdigit() and not _running(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
                removed.append(temporary)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _named(error: OSError, message: str) -> OSError:
    """An OSError of the same class and errno whose whole message is `message`."""
    named = type(error)(message)
    named.errno = error.errno
    return named
