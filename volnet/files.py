"""Files volnet writes atomically get the permissions an ordinary open() would give them.

volnet writes models, checkpoints and downloads to a temporary file in the target folder and
renames it over the target, so that a crash never leaves half a file. Python's temporary
files are created readable by their owner only (mode 0600); renamed into place as they are,
a model saved for a team or a dataset downloaded into a shared folder would be unreadable to
everyone else. `permissions_of_a_new_file` gives the temporary file the mode a file made with
open() gets instead: 0666 less the process's umask (0644 with the usual umask 022).
"""

from __future__ import annotations

import os


def permissions_of_a_new_file(descriptor: int):
    """Set an open file's mode to 0666 less the umask (what open() would have created)."""
    umask = os.umask(0)  # reading the umask means setting it; put it back at once
    os.umask(umask)
    os.fchmod(descriptor, 0o666 & ~umask)
