# The receptive field from geometry: a known stack by hand, the exact support of the gradient
# of a linear stack (conv and average pooling), and more than max pooling's gradient reaches.
import numpy as np
import pytest

from tests.gradient_reach import gradient_reach
from volnet.cli.main import main
from volnet.models import build_model
from volnet.viz.receptive_field import receptive_field_regions


def gradient_support(model, layer, at, input_shape):
    # where d(out_layer[0, channel 0, i, j]) / dx is not zero, for one random input: (rows, columns) as (first, last)
    top, left, bottom, right = gradient_reach(model, layer, at, input_shape)
    return (top, bottom - 1), (left, right - 1)


def test_a_known_stack_by_hand():
    # conv3 pad 1 → r 3, start −1; pool 2 → r 4, j 2; conv3 pad 1 → r 8, start −3; neuron (2, 1):
    # rows −3 + 2·2 = 1 … 8, columns −3 + 1·2 = −1 … 6, clipped to 0 … 6
    model = build_model("conv3-2 relu pool conv3-2", input_shape=(1, 10, 10))
    regions = receptive_field_regions(model, "4", (2, 1))
    assert [(r.number, r.shape[1:]) for r in regions] == [("", (10, 10)), ("1", (10, 10)), ("3", (5, 5)),
                                                          ("4", (5, 5))]
    assert (regions[0].rows, regions[0].columns) == ((1, 8), (0, 6))
    assert (regions[0].field[0].size, regions[0].field[0].jump) == (8, 2)
    # in the pooled volume the neuron sees its own 3×3 filter, in the conv output before the pool 6×6
    assert (regions[2].rows, regions[2].columns) == ((1, 3), (0, 2))
    assert (regions[1].rows, regions[1].columns) == ((2, 7), (0, 5))
    assert (regions[3].rows, regions[3].columns) == ((2, 2), (1, 1))


@pytest.mark.parametrize("spec, layer, at", [
    ("conv2-2/p0 avgpool conv3-2/p0", 3, (1, 2)), ("conv5-2/s2 conv3-2/d2", 2, (2, 1)), ("avgpool3/s2 conv3-2/p0", 2, (0, 1)),
    ("conv3-2/p0 conv3-2/s2/p0 conv3-2", 3, (0, 0))])
def test_a_linear_stacks_gradient_reaches_exactly_the_field(spec, layer, at):
    # without ReLU or max pooling every connection carries a nonzero gradient (random weights), so
    # the gradient's support is the whole geometric field
    model = build_model(spec, input_shape=(2, 13, 13), seed=1).to(np.float64)
    region = receptive_field_regions(model, str(layer), at)[0]
    assert gradient_support(model, layer, at, (2, 13, 13)) == (region.rows, region.columns)


def test_the_field_is_larger_than_what_max_poolings_gradient_reaches():
    model = build_model("conv3-1 pool conv3-1 pool", input_shape=(1, 16, 16), seed=0).to(np.float64)
    region = receptive_field_regions(model, "4", (1, 1))[0]
    (top, bottom), (left, right) = gradient_support(model, 4, (1, 1), (1, 16, 16))
    assert region.rows[0] <= top and bottom <= region.rows[1] and region.columns[0] <= left and right <= region.columns[1]
    assert (bottom - top + 1) * (right - left + 1) < (region.rows[1] - region.rows[0] + 1) * \
        (region.columns[1] - region.columns[0] + 1)


def test_errors_name_the_layer_and_the_rule():
    model = build_model("conv3-2 pool fc10", input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="outputs a vector of 10: every number of it sees the whole input"):
        receptive_field_regions(model, "3")
    with pytest.raises(ValueError, match=r"--at 4,0 is outside layer 2's 4×4 output"):
        receptive_field_regions(model, "2", (4, 0))
    with pytest.raises(ValueError, match="no layer 9"):
        receptive_field_regions(model, "9")


def test_the_command(tmp_path, capsys):
    assert main(["show", "receptive-field", "tiny", "--layer", "4", "--at", "3,5", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "receptive-field.png")]
    assert main(["show", "receptive-field", "tiny", "--at", "3", "--out", str(tmp_path)]) == 2
    assert "--at wants the neuron's row and column as I,J" in capsys.readouterr().err
