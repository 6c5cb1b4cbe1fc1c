"""What `volnet summary` prints for residual blocks and dropout."""

from volnet.cli.main import main


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
