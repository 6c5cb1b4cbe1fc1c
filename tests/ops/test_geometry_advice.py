# The advice of a layer that does not fit: every fix it offers fits, the "no padding can" case is
# said exactly when it holds (an even stride and an odd W − F), and PyTorch's rounding is stated.
import itertools
import math
import re

import pytest

from volnet.layers import Conv2D
from volnet.ops.geometry import output_size

CASES = [(w, f, s, p) for w, f, s, p in itertools.product(range(5, 14), (2, 3, 4, 5), (2, 3, 4), (0, 1))
         if w + 2 * p >= f and (w - f + 2 * p) % s]


def advice(w, f, s, p):
    with pytest.raises(ValueError) as raised:
        Conv2D(6, f, stride=s, pad=p).output_shape((2, w, w))
    return str(raised.value)


@pytest.mark.parametrize("w, f, s, p", CASES)
def test_every_offered_fix_fits_and_gives_the_volume_it_says(w, f, s, p):
    message = advice(w, f, s, p)
    offers = re.findall(r"(pad=|stride=|size=|an input height of )(\d+) \(→ (\d+)×(\d+)×6\)", message)
    assert offers, message
    for what, value, out_width, out_height in offers:
        value = int(value)
        settings = {"pad=": dict(pad=value), "stride=": dict(stride=value), "size=": dict(filter_size=value)}.get(what)
        # a changed input size changes the height only: the width still does not fit, so the width's
        # output is not claimed whole there; check the height it names
        size = value if what.startswith("an input") else w
        expected = output_size(size, **{**dict(filter_size=f, stride=s, pad=p), **(settings or {})})
        assert int(out_height) == expected, (what, value, message)


@pytest.mark.parametrize("w, f, s, p", CASES)
def test_no_padding_is_said_exactly_when_none_exists(w, f, s, p):
    message = advice(w, f, s, p)
    none_fits = s % 2 == 0 and (w - f) % 2 == 1
    assert ("No padding can make it whole at stride" in message) == none_fits, message
    assert ("Try pad=" in message) == (not none_fits), message
    if none_fits:
        assert f"Keeping stride {s}:" in message or "Or change the stride" in message, message


@pytest.mark.parametrize("w, f, s, p", CASES)
def test_what_pytorch_does_is_rounding_down(w, f, s, p):
    message = advice(w, f, s, p)
    floor = math.floor((w - f + 2 * p) / s) + 1
    assert f"PyTorch would round down instead: ⌊{w - f + 2 * p}/{s}⌋ + 1 = {floor}" in message
    assert re.search(rf"last (\d+ )?rows? of the padded input would never be seen", message)
