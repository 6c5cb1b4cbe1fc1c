"""`volnet summary` (volnet.cli.summary): presets, architecture strings and saved models;
--input-shape; what it prints for residual blocks and dropout; a wrong word pointed at; the
input an architecture string gets, the same as `volnet show model`'s."""

import pytest

from volnet.cli.main import main

from tests.cli.conftest import one_error_line, refused_before_any_work


@pytest.mark.parametrize("spec", ["tiny", "[conv3-8 relu]*2 pool fc10", "MODEL"])
def test_summary(spec, run_dir, capsys):
    assert main(["summary", str(run_dir / "model.npz") if spec == "MODEL" else spec]) == 0
    assert "parameters:" in capsys.readouterr().out


def test_summary_with_an_input_shape(capsys):
    assert main(["summary", "conv3-8 relu pool fc10", "--input-shape", "3,32,32"]) == 0
    assert "32×32×3" in capsys.readouterr().out


def test_shortcut_rows_are_marked_and_dropout_shows_no_seed(capsys):
    assert main(["summary", "resnet-small"]) == 0
    # the layer table: the lines before the totals
    lines = capsys.readouterr().out.split("\n\n")[0].splitlines()
    # the projection's rows: a short index, the body's indentation, and said to be the shortcut
    assert [line.split("  ")[0] for line in lines if ".s" in line.split(" ")[0]] == ["7.s1", "7.s2", "10.s1", "10.s2"]
    body, shortcut = (next(line for line in lines if line.startswith(index)) for index in ("7.5 ", "7.s1 "))
    assert shortcut.index("shortcut: Conv2D(filters=32, size=1, bias=False)") == body.index("BatchNorm()")
    assert main(["summary", "fashion"]) == 0
    dropout = [line for line in capsys.readouterr().out.splitlines() if "Dropout" in line]
    assert len(dropout) == 1 and "Dropout(rate=0.3) " in dropout[0] and "seed" not in dropout[0]


def test_a_bad_architecture_string_points_at_the_word(capsys):
    assert main(["summary", "conv3-8 pol fc10"]) == 2
    assert "unknown word 'pol'" in one_error_line(capsys, "summary")


def test_show_model_and_summary_give_an_architecture_string_the_same_input(tmp_path, monkeypatch, capsys):
    from volnet.viz import diagram

    assert main(["summary", "conv3-8 relu pool fc10"]) == 0
    assert "   input                          28×28×1" in capsys.readouterr().out
    drawn = []
    monkeypatch.setattr(diagram, "save_model_figure", lambda volumes, folder, title: drawn.extend(volumes) or [])
    assert main(["show", "model", "conv3-8 relu pool fc10", "--out", str(tmp_path)]) == 0
    assert drawn[0].shape == (1, 28, 28)


@pytest.mark.parametrize("arguments, message", [
    (["summary", "tiny", "--input-shape", "28,28,1"], "--input-shape 28,28,1 reads as D=28, H=28, W=1; volnet "
                                                      "writes the depth first (D,H,W): did you mean 1,28,28?"),
])
def test_bad_flags_are_named_before_any_work(arguments, message, sample_run, tmp_path, monkeypatch, capsys):
    refused_before_any_work(arguments, message, sample_run, tmp_path, monkeypatch, capsys)
