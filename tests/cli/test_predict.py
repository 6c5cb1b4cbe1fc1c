"""`volnet predict` (volnet.cli.predict): dataset examples and image files; its flags checked
before any work."""

import numpy as np
import pytest
from PIL import Image

from volnet.cli.main import main

from tests.cli.conftest import refused_before_any_work


def test_predict_dataset_examples_and_image_files(run_dir, tmp_path, capsys):
    assert main(["predict", str(run_dir / "model.npz"), "--index", "0", "5", "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("sample/test[0] (true: Ankle boot): ")
    assert lines[0].count("%") == 2
    # an RGB picture of another size is converted and resized to the model's 28×28×1
    picture = tmp_path / "shirt.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(picture)
    assert main(["predict", str(run_dir / "model.npz"), str(picture)]) == 0
    assert capsys.readouterr().out.startswith(f"{picture}: ")


@pytest.mark.parametrize("arguments, message", [
    (["predict", "RUN", "--top-k", "0", "--index", "0"], "--top-k must be at least 1, got 0"),
    (["predict", "RUN", "FILE", "--index", "0"], "give image files or --index, not both (got 1 image file and "
                                                 "--index 0): --index picks examples of a dataset split instead"),
    (["predict", "RUN", "FILE", "--split", "test"],
     "--split has no effect on image files: --dataset, --split and --data-dir choose the split that --index picks "
     "from; leave it out"),
    (["predict", "RUN", "."], ". is a folder, where a file was expected"),
])
def test_bad_flags_are_named_before_any_work(arguments, message, sample_run, tmp_path, monkeypatch, capsys):
    refused_before_any_work(arguments, message, sample_run, tmp_path, monkeypatch, capsys)
