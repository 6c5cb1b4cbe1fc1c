# `volnet lab` from the command line: its flags' messages (exit 2, no traceback), and a real
# run that prints its address, serves the page only with the token and stops on Ctrl+C.
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.lab.conftest import wait_for
from volnet.cli.main import main

pytest.importorskip("uvicorn")
REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv, message", [
    (["--lr", "-1"], "--lr must be greater than 0, got -1.0"),
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--momentum", "1"], "--momentum must be at least 0 and less than 1, got 1.0"),
    (["--port", "70000"], "--port must be between 0 and 65535, got 70000"),
    (["--preset", "tiney"], "tiney"),
    (["--model", "nowhere.npz"], "no model file at nowhere.npz"),
    (["--arch", "conv3-8 relu fc7", "--no-browser"], "end the architecture with fc10"),
    (["--dataset", "no-such-set", "--no-browser"], "unknown dataset 'no-such-set'"),
])
def test_bad_flags_get_one_clear_line(argv, message, capsys):
    assert main(["lab", *argv]) == 2
    error = capsys.readouterr().err
    assert error.startswith("volnet lab: error: ") and message in error and "Traceback" not in error


def test_a_taken_port_is_named(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["lab", "--port", str(port), "--no-browser"]) == 2
    assert f"--port {port}: cannot listen there" in capsys.readouterr().err


def test_the_command_serves_the_page_with_its_token_and_stops_on_ctrl_c():
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "volnet", "lab", "--no-browser", "--arch", "conv3-4 relu pool fc10"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        line = process.stdout.readline()
        assert line.startswith("volnet lab: http://127.0.0.1:"), line + process.stderr.read()
        url = line.split()[2]
        with urllib.request.urlopen(url, timeout=30) as response:
            assert b"<title>volnet lab</title>" in response.read()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url.partition("?")[0], timeout=30)
        assert refused.value.code == 403
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode in (0, 130)
    assert "Traceback" not in process.stderr.read()


def test_serve_starts_a_lab_in_this_process_and_shows_it_in_an_iframe():
    import volnet.lab

    running = volnet.lab.serve(architecture="conv3-4 relu pool fc10", paused=True)
    try:
        assert running.url.startswith("http://127.0.0.1:") and f"token={running.token}" in running.url
        assert f'<iframe src="{running.url}"' in running._repr_html_()
        with urllib.request.urlopen(running.url, timeout=30) as response:
            assert b"<title>volnet lab</title>" in response.read()
        running.lab.control({"action": "step"})
        wait_for(lambda: running.lab.trainer.step == 1, what="one step")
    finally:
        running.stop()
    assert not running.thread.is_alive() and not running.lab.thread.is_alive()
    with pytest.raises(TypeError):
        volnet.lab.serve(learning_rate=0.1)
