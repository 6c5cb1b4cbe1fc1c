"""What a user error says: the setting it is about, or the path it names.

A library function that refuses a value raises SettingError, whose message names the setting by
its parameter name ("epochs must be at least 1, got 0"); a caller that calls the settings
otherwise shows the same sentence in its own words: the volnet command (and the lab page,
which mirrors it) says the flag of each setting, `flag(name)` ("--epochs must be at least 1,
got 0"), so it never re-words a library message. `check_settings` applies the common numeric
rules (AT_LEAST_1, ...) that way. `describe` turns any user error (ValueError, TypeError,
OSError) into its one line.
"""

from __future__ import annotations

import errno
import string
from typing import Callable

# a setting's rule: (what a message says it must be, the test its value passes)
AT_LEAST_1 = ("at least 1", lambda value: value >= 1)
AT_LEAST_0 = ("at least 0", lambda value: value >= 0)
ABOVE_0 = ("greater than 0", lambda value: value > 0)
FRACTION = ("at least 0 and less than 1", lambda value: 0 <= value < 1)


class SettingError(ValueError):
    """A value of a setting that cannot work, in a message that names the setting.

    The message is a template in which every setting it names is a field in braces, and
    `values` fill the other fields: SettingError("{epochs} must be at least 1, got {value}", value=0).
    str(error) names each setting by its parameter name ("epochs must be at least 1, got 0");
    error.worded(name) by the name a caller gives it (the volnet command: "--epochs ...").

    Attributes:
        settings: the settings the message names, in order of first mention.
        setting: the first of them (for a single rule broken: the setting whose value is refused).
    """

    def __init__(self, template: str, **values):
        self.template, self.values = template, values
        fields = (field for _, field, _, _ in string.Formatter().parse(template) if field)
        self.settings = tuple(dict.fromkeys(field for field in fields if field not in values))
        self.setting = self.settings[0]
        super().__init__(self.worded(str))

    def worded(self, name: Callable[[str], str]) -> str:
        """The message with each setting called name(setting)."""
        return self.template.format(**{setting: name(setting) for setting in self.settings}, **self.values)


def check_settings(settings, **rules) -> None:
    """Raise SettingError for the first attribute of `settings` whose value breaks its rule
    (e.g. epochs=AT_LEAST_1); attributes that are None pass.

    Example: check_settings(config, epochs=AT_LEAST_1) -> "epochs must be at least 1, got 0".
    """
    for name, (expected, holds) in rules.items():
        value = getattr(settings, name)
        if value is not None and not holds(value):
            raise SettingError(f"{{{name}}} must be {expected}, got {{value}}", value=value)


# the flags of the volnet command whose names are not their setting's name with dashes
FLAGS = {"architecture": "--arch", "out_dir": "--out"}


def flag(setting: str) -> str:
    """The volnet command's flag for a setting (a parameter name): FLAGS, else the name with
    dashes for underscores: "batch_size" -> "--batch-size", "architecture" -> "--arch"."""
    return FLAGS.get(setting, "--" + setting.replace("_", "-"))


# what an operating-system error means for the path it names, in words
OS_ERRORS = {
    errno.ENOENT: "does not exist (or the folder it should be in does not)",
    errno.EISDIR: "is a folder, where a file was expected",
    errno.ENOTDIR: "runs through a file, where a folder was expected",
    errno.EEXIST: "already exists as a file, where a folder was expected",
    errno.EACCES: "cannot be written or read: permission denied",
    errno.EPERM: "cannot be written or read: operation not permitted",
    errno.EROFS: "is on a read-only file system",
    errno.ENOSPC: "cannot be written: no space left on the device",
}


def describe(error: Exception, name: Callable[[str], str] = str) -> str:
    """The one line of a user error: a SettingError with its settings called name(setting), an
    OSError that names a path as a sentence about that path, any other as its message."""
    if isinstance(error, SettingError):
        return error.worded(name)
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename} {OS_ERRORS.get(error.errno, error.strerror or 'cannot be used')}"
    return str(error)
