# One receptive-field geometry: the summary's field/jump columns, `volnet show receptive-field`'s
# regions and `volnet explain neurons`' boxes are the same numbers for every layer of every preset
# (resnet-small has residual blocks with projection shortcuts), and a residual block sees what
# either of its paths sees.
import numpy as np
import pytest

from volnet.explain import receptive_field
from volnet.models import PRESETS, build_model, summary_rows
from volnet.models.receptive_field import field_along, layer_path
from volnet.ops.geometry import ReceptiveField, ReceptiveField2D
from volnet.viz.receptive_field import receptive_field_regions

SPECS = [(name, None) for name in PRESETS] + [("conv3-4 res[conv3-8/s2 relu conv3-8] pool res[conv3-8/d2 bn] gap fc3",
                                               (1, 15, 15))]


@pytest.mark.parametrize("architecture, shape", SPECS)
def test_the_summary_explain_and_the_picture_give_one_field(architecture, shape):
    model = build_model(architecture, input_shape=shape)
    rows = summary_rows(model)
    _, height, width = rows[0].output_shape
    for row in rows[1:]:
        field = receptive_field(model, row.layer_object)
        assert field == row.field, row.number
        if row.level == 0 and len(row.output_shape) == 3:
            first = receptive_field_regions(model, row.number)[0]
            i, j = row.output_shape[1] // 2, row.output_shape[2] // 2
            top, left, bottom, right = field.box(i, j, height, width)
            assert (first.rows, first.columns) == ((top, bottom - 1), (left, right - 1)) and first.field == field


def test_a_layer_path_enters_the_blocks_and_a_residual_field_is_the_union_of_its_paths():
    model = build_model("conv3-4 res[conv3-8/s2 relu conv3-8] fc3", input_shape=(1, 7, 7))
    block = model.layers[1]
    conv, projection = block.body.layers[2], block.projection
    assert layer_path(model, conv) == [model.layers[0], *block.body.layers]
    assert layer_path(model, projection) == [model.layers[0], projection]
    before = ReceptiveField2D(ReceptiveField(3, 1, -1), ReceptiveField(3, 1, -1))
    body, shortcut = field_along(block.body.layers, before), projection.field_through(before)
    union = receptive_field(model, block)
    for axis in range(2):
        assert union.start[axis] == min(body.start[axis], shortcut.start[axis])
        assert union.start[axis] + union.size[axis] == max(body.start[axis] + body.size[axis],
                                                           shortcut.start[axis] + shortcut.size[axis])
    assert receptive_field(model, model.layers[-1]).whole
    with pytest.raises(ValueError, match="is not a layer of"):
        layer_path(model, build_model("conv3-4", input_shape=(1, 7, 7)).layers[0])


@pytest.mark.parametrize("window, strides, pads, dilations", [((3, 5), (1, 2), (1, 0), (1, 1)),
                                                              ((3, 3), (2, 1), (0, 2), (2, 1))])
def test_each_axis_moves_by_its_own_window(window, strides, pads, dilations):
    start = ReceptiveField2D(ReceptiveField(4, 2, -1), ReceptiveField(6, 3, 0))
    moved = start.through(window, strides, pads, dilations)
    for axis, field in enumerate(start):
        assert moved[axis] == field.through(window[axis], strides[axis], pads[axis], dilations[axis])
    box = moved.box(1, 2, 20, 30)
    assert box == (max(moved.start[0] + moved.jump[0], 0), max(moved.start[1] + 2 * moved.jump[1], 0),
                   min(moved.start[0] + moved.jump[0] + moved.size[0], 20),
                   min(moved.start[1] + 2 * moved.jump[1] + moved.size[1], 30))
    assert moved.everything().box(*np.array([5, 5]), 20, 30) == (0, 0, 20, 30)
