"""`volnet show` (volnet.cli.show): its flags checked before anything is drawn. (The pictures
themselves are tested in tests/viz.)"""

import pytest

from tests.cli.conftest import error_of


@pytest.mark.parametrize("arguments, message", [
    (["conv", "--depth", "0"], "--depth must be at least 1, got 0"),
    (["conv", "--width", "0"], "--width must be at least 1, got 0"),
    (["conv", "--height", "-2"], "--height must be at least 1, got -2"),
    (["conv", "--pad", "-1"], "--pad must be at least 0, got -1"),
    (["conv", "--seed", "-1"], "--seed must be at least 0, got -1"),
    (["pool", "--stride", "0"], "--stride must be at least 1, got 0"),
    (["backprop", "--size", "0"], "--size must be at least 1, got 0"),
    (["kernels", "--index", "-1"], "--index must be at least 0, got -1"),
    (["kernels", "--index", "5000"], "the Fashion-MNIST sample's test split has images 0 to 1999; there is no image "
                                     "5000"),
    (["conv", "--out", "FILE"], "--out FILE is a file; give a folder (volnet creates it if missing)"),
    (["model", "tiny", "--input-shape", "32x32x3"], "--input-shape 32x32x3 reads as D=32, H=32, W=3; volnet writes "
                                                    "the depth first (D,H,W): did you mean 3,32,32?"),
    (["activations", "RUN", "FILE", "--index", "3"], "--index has no effect with an IMAGE: it picks a Fashion-MNIST "
                                                     "sample image to use instead; leave it out"),
    (["filters", "RUN/best.npz"], "RUN/best.npz is a training checkpoint (of the best epoch), not a model"),
])
def test_show_names_its_flags(arguments, message, sample_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("not a folder")
    found, out = error_of(capsys, ["show", *(argument.replace("RUN", str(sample_run)) for argument in arguments)])
    assert found.startswith(message.replace("RUN", str(sample_run))) and out == ""
