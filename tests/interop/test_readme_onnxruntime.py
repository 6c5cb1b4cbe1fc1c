"""The README's onnxruntime snippet runs as printed and says what `volnet predict` says."""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from volnet.cli.main import main
from volnet.data import load_dataset

README = Path(__file__).resolve().parents[2] / "README.md"


def onnxruntime_snippet() -> str:
    section = README.read_text(encoding="utf-8").split("## Use your model elsewhere", 1)[1].split("\n## ", 1)[0]
    (code,) = [block for block in re.findall(r"```python\n(.*?)```", section, re.DOTALL) if "onnxruntime" in block]
    return code


def test_the_snippet_is_ten_lines():
    assert len(onnxruntime_snippet().strip().splitlines()) == 10


def test_the_snippet_runs_as_printed_and_agrees_with_volnet_predict(trained, tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    *_, path = trained
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "fashion"
    run.mkdir(parents=True)
    shutil.copy(path, run / "model.npz")
    assert main(["export", "runs/fashion", "--format", "onnx"]) == 0
    test = load_dataset("sample", "test")
    shoe = int(np.flatnonzero(test.labels == test.class_names.index("Sneaker"))[0])
    # a larger photo than the model takes, and a little off-grey, so that both resize it alike
    photo = np.clip(np.kron(test.images[shoe, 0], np.ones((3, 3), np.uint8)).astype(int) + 7, 0, 255)
    Image.fromarray(photo.astype(np.uint8)[:83, :80]).save("shoe.png")
    assert main(["predict", "runs/fashion/model.npz", "shoe.png"]) == 0
    predicted = capsys.readouterr().out  # "shoe.png: Sneaker 71.2%, Sandal 20.3%, Ankle boot 6.1%"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(onnxruntime_snippet(), {})
    top = ast.literal_eval(printed.getvalue().strip())
    expected = re.findall(r"([^:,]+?) (\d+\.\d)%", predicted.split(": ", 1)[1])
    assert [name for name, _ in top] == [name.strip() for name, _ in expected]
    for (_, probability), (_, percent) in zip(top, expected):
        assert abs(100 * probability - float(percent)) <= 0.1 + 1e-9
