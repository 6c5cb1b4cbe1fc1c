"""`volnet gradcheck` (volnet.cli.gradcheck): every layer passes; --seed checked."""

import pytest

from volnet.cli.main import main

from tests.cli.conftest import refused_before_any_work


def test_gradcheck_passes(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "PASS" in out and "batch norm" in out and "residual" in out


@pytest.mark.parametrize("arguments, message", [
    (["gradcheck", "--seed", "-1"], "--seed must be at least 0, got -1"),
])
def test_bad_flags_are_named_before_any_work(arguments, message, sample_run, tmp_path, monkeypatch, capsys):
    refused_before_any_work(arguments, message, sample_run, tmp_path, monkeypatch, capsys)
