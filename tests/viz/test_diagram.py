import pytest

from volnet.models import build_model
from volnet.viz.diagram import _box_size, model_figure, model_volumes


def test_volumes_follow_the_layers_that_make_them():
    volumes = model_volumes(build_model("tiny"))
    assert [v.shape for v in volumes] == [(1, 28, 28), (16, 28, 28), (16, 14, 14), (32, 14, 14), (32, 7, 7), (64,),
                                          (10,)]
    # elementwise layers keep the shape and ride along with the layer before them; every layer
    # carries the summary's number, and a conv its parameter count with and without sharing
    assert volumes[1].layers == ["1: conv 3×3, 16 filters, pad 1", "params (3·3·1 + 1)·16 = 160",
                                 "(unshared: 125,440)", "2: relu"]
    assert volumes[2].layers == ["3: max pool 2×2"]
    assert volumes[5].layers == ["7: fc 64", "8: relu"]


def test_strides_residual_blocks_and_an_explicit_input_shape():
    model = build_model("conv5-8/s2/p0 bn relu res[conv3-8 bn relu conv3-8 bn] gap fc3", input_shape=(3, 33, 33))
    volumes = model_volumes(model, (3, 33, 33))
    assert [v.shape for v in volumes] == [(3, 33, 33), (8, 15, 15), (8, 15, 15), (8,), (3,)]
    assert volumes[1].layers == ["1: conv 5×5, 8 filters, stride 2", "params (5·5·3 + 1)·8 = 608",
                                 f"(unshared: {608 * 15 * 15:,})", "2: batch norm", "3: relu"]
    assert volumes[2].layers[0].startswith("4: residual block [conv 3×3, 8 filters, pad 1")


def test_a_layer_that_does_not_fit_says_so():
    model = build_model("conv3-4 pool fc10", input_shape=(1, 28, 28))
    with pytest.raises(ValueError, match="does not fit"):
        model_volumes(model, (1, 5, 5))


def test_bigger_volumes_get_bigger_boxes():
    volumes = model_volumes(build_model("tiny"))
    sizes = [_box_size(v, 28, 64) for v in volumes]
    assert sizes[1][0] > sizes[0][0]  # depth 16 is wider than depth 1
    assert sizes[2][1] < sizes[1][1]  # 14 high is lower than 28 high


def test_figure_labels_every_volume_w_h_d():
    figure = model_figure(model_volumes(build_model("tiny")), "tiny")
    texts = [text.get_text() for text in figure.axes[0].texts]
    for label in ("28×28×1", "28×28×16", "14×14×16", "14×14×32", "7×7×32", "64", "10", "tiny"):
        assert label in texts


def test_residual_blocks_get_a_labelled_shortcut_arrow():
    volumes = model_volumes(build_model("resnet-small"))
    shortcuts = [v.shortcut for v in volumes if v.shortcut]
    assert shortcuts == ["identity", "conv 1×1, 32 filters, batch norm", "conv 1×1, 64 filters, batch norm"]
    assert volumes[2].layers == ["4: residual block [conv 3×3, 16 filters, pad 1, conv 3×3, 16 filters, pad 1]",
                                 "5: relu"]
    texts = [text.get_text() for text in model_figure(volumes).axes[0].texts]
    assert "+ identity" in texts and "+ conv 1×1, 64 filters, batch norm" in texts
