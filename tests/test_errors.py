# A SettingError names its settings by their parameter names, and any caller can say them in
# its own words (the volnet command: flags) without re-wording the message; describe gives
# every user error its one line.
import errno

import pytest

from volnet.errors import AT_LEAST_1, FRACTION, SettingError, check_settings, describe, flag


def test_a_setting_error_is_said_with_parameter_names_or_with_flags():
    error = SettingError("{warmup} {given} is not fewer than the {steps} steps ({epochs} × batches of {batch_size})",
                         given=5, steps=1)
    assert isinstance(error, ValueError)
    assert str(error) == "warmup 5 is not fewer than the 1 steps (epochs × batches of batch_size)"
    assert error.worded(flag) == "--warmup 5 is not fewer than the 1 steps (--epochs × batches of --batch-size)"
    assert error.settings == ("warmup", "epochs", "batch_size") and error.setting == "warmup"


def test_values_are_never_read_as_fields():
    # an architecture string or a path may hold braces; format specs apply to values
    error = SettingError("{architecture} {text} at {rate:.0%}", text="{fc10}", rate=0.3)
    assert str(error) == "architecture {fc10} at 30%" and error.worded(flag) == "--arch {fc10} at 30%"


@pytest.mark.parametrize("setting, expected", [("batch_size", "--batch-size"), ("lr", "--lr"),
                                               ("architecture", "--arch"), ("out_dir", "--out")])
def test_the_flag_of_a_setting(setting, expected):
    assert flag(setting) == expected


def test_check_settings_names_the_first_broken_rule():
    class Settings:
        epochs, val_fraction, patience = 0, 1.5, None

    with pytest.raises(SettingError, match=r"^epochs must be at least 1, got 0$") as caught:
        check_settings(Settings(), patience=AT_LEAST_1, epochs=AT_LEAST_1, val_fraction=FRACTION)
    assert caught.value.setting == "epochs"
    Settings.epochs = 3
    with pytest.raises(SettingError) as caught:
        check_settings(Settings(), patience=AT_LEAST_1, epochs=AT_LEAST_1, val_fraction=FRACTION)
    assert describe(caught.value, flag) == "--val-fraction must be at least 0 and less than 1, got 1.5"
    assert describe(caught.value) == "val_fraction must be at least 0 and less than 1, got 1.5"


def test_operating_system_errors_become_sentences_about_the_path():
    assert describe(FileExistsError(errno.EEXIST, "File exists", "runs/a")) == (
        "runs/a already exists as a file, where a folder was expected")
    assert describe(IsADirectoryError(errno.EISDIR, "Is a directory", "out")) == (
        "out is a folder, where a file was expected")
    assert describe(FileNotFoundError("no model file at m.npz")) == "no model file at m.npz"
