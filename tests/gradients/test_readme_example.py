"""The README's gradient-check snippet prints what its comment says."""

import ast
import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet_and_comment() -> tuple[str, dict]:
    # the ```python block that calls check_layer_gradients, and the dict its last line's comment shows
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    (code,) = [block for block in blocks if "check_layer_gradients(" in block]
    comment = code.rstrip().splitlines()[-1].split("#", 1)[1]
    return code, ast.literal_eval(comment.strip())


def test_the_printed_errors_match_the_comment():
    code, shown = snippet_and_comment()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, {})
    errors = ast.literal_eval(printed.getvalue().strip())
    assert errors.keys() == shown.keys()
    for name, error in errors.items():
        # float64 rounding residues: their digits depend on summation order (BLAS, cores),
        # so another machine may print another digit, but never another decade and a half
        assert float(error) < 1e-7, name
        assert 1 / 30 < float(error) / float(shown[name]) < 30, (name, error, shown[name])
