# One numbering of the layers for the summary, the pictures, explain and the lab: the summary's
# rows, the layer walk and find_layer agree on every preset (resnet-small has residual blocks
# with projection shortcuts) and on a block-heavy spec.
import pytest

from volnet.explain.probe import conv_layer
from volnet.layers import Conv2D
from volnet.models import PRESETS, build_model, summary_rows
from volnet.models.numbering import find_layer, layer_name, layer_names, layer_number
from volnet.models.summary import find_row
from volnet.viz.filters import conv_layers

SPECS = [(name, None) for name in PRESETS] + [("conv3-4 res[conv3-8/s2 relu conv3-8] res[conv3-8 bn] gap fc3", (1, 7, 7))]


@pytest.mark.parametrize("architecture, shape", SPECS)
def test_the_summary_and_the_layer_walk_number_every_layer_alike(architecture, shape):
    model = build_model(architecture, input_shape=shape)
    rows = summary_rows(model)[1:]
    named = layer_names(model)
    assert [row.number for row in rows] == [number for number, _ in named]
    assert all(row.layer_object is layer for row, (_, layer) in zip(rows, named))
    for number, layer in named:
        assert find_layer(model, number) is layer and layer_name(layer) == number
        assert find_row(summary_rows(model), number).layer_object is layer
        # the long form that Layer.index writes is read too
        assert find_layer(model, layer.index) is layer
    assert len({number for number, _ in named}) == len(named)


def test_shortcut_layers_are_numbered_s():
    model = build_model("resnet-small")
    numbers = [number for number, _ in layer_names(model)]
    assert any(".s" in number for number in numbers) and not any("shortcut" in number for number in numbers)
    assert layer_number("7.shortcut.1") == "7.s1" and layer_number(" 3 ") == "3"
    convs = [(number, layer) for number, layer in layer_names(model) if type(layer).__name__ == "Conv2D"]
    assert layer_names(model, Conv2D) == convs == conv_layers(model) and layer_name(conv_layer(model)) == convs[-1][0]


def test_an_unknown_number_lists_the_numbers_there_are():
    model = build_model("conv3-4 relu fc3", input_shape=(1, 6, 6))
    with pytest.raises(ValueError, match=r"no layer 9; .*: 1, 2, 3"):
        find_layer(model, 9)
