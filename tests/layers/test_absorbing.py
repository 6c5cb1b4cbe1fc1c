"""Two layers in one pass (Layer.absorbs): batch norm with the ReLU after it, a ReLU with the
max pooling after it. A Sequential that runs such pairs gives the numbers of its layers run one
by one (each layer's own forward and backward, the reference path), in float32 and float64, odd
sizes and batch 1, in training and inference, through numba's loops and the NumPy passes; it
never pairs a layer that records; and a layer of a pair has no backward of its own."""

import numpy as np
import pytest

import volnet as v
from volnet import build_model

# every pair, in volumes and vectors, with a max pool that is not 2×2 and a pair inside a block
ARCHITECTURES = [
    "conv3-4 bn relu pool conv3-6 relu pool fc5 bn relu fc3",
    "conv3-4 relu pool3/s1/p1 conv3-5 bn relu fc3",
    "conv3-4 bn relu res[conv3-4 bn relu conv3-4 bn] relu pool fc3",
]
SHAPES = [(3, 12, 20), (1, 8, 8)]  # (3, 12, 20): 3×5 after two 2×2 pools


def layer_by_layer(model, x, dout):
    # the reference path: each layer's own forward and backward, never a pair
    outputs = [x]
    for layer in model.layers:
        outputs.append(layer.forward(outputs[-1]))
    for layer in reversed(model.layers):
        dout = layer.backward(dout)
    return outputs[-1], dout


def pairs(model):
    return [(type(layer).__name__, type(following).__name__)
            for _, block in model.named_layers() if isinstance(block, v.Sequential)
            for layer, following in block.units if following is not None]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("batch", [1, 5])
def test_pairs_give_the_numbers_of_the_layers_one_by_one(architecture, shape, dtype, training, batch, passes):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *shape)).astype(dtype)
    if training and batch == 1 and "fc5 bn" in architecture:
        pytest.skip("batch norm of vectors needs 2 examples in training")
    models = [build_model(architecture, shape, seed=1, dtype=dtype).train(training) for _ in range(2)]
    out = models[0].forward(x)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = models[0].backward(dout)
    assert pairs(models[0]), "the architecture has pairs"
    models[1].record()  # a layer that records is never paired: blocks nested in the reference run one by one too
    expected_out, expected_dx = layer_by_layer(models[1], x, dout)
    assert not pairs(models[1])
    # float64 agrees to summation order (the compiled loops vectorise the paired sums differently);
    # float32 to its rounding of a few sums
    tolerance = dict(rtol=1e-12, atol=1e-13) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, expected_out, **tolerance)
    np.testing.assert_allclose(dx, expected_dx, **tolerance)
    for name, grad in models[0].grads.items():
        np.testing.assert_allclose(grad, models[1].grads[name], **tolerance, err_msg=name)
    for name, value in models[0].buffers().items():
        np.testing.assert_allclose(value.data, models[1].buffers()[name].data, **tolerance, err_msg=name)


def test_the_nets_of_the_benchmark_pair_their_layers():
    fashion = build_model("fashion")
    fashion.forward(np.zeros((2, 1, 28, 28), np.float32))
    assert pairs(fashion) == [("BatchNorm", "ReLU")] * 4
    small = build_model("conv3-32 relu pool conv3-64 relu pool fc128 relu fc10", (1, 28, 28))
    small.forward(np.zeros((2, 1, 28, 28), np.float32))
    assert pairs(small) == [("ReLU", "MaxPool2D")] * 2


def test_only_a_relu_is_absorbed_by_batch_norm_and_only_a_max_pool_by_a_relu():
    assert v.BatchNorm().absorbs(v.ReLU()) and v.ReLU().absorbs(v.MaxPool2D(3, stride=1, pad=1))
    for layer, following in [(v.BatchNorm(), v.LeakyReLU()), (v.BatchNorm(), v.MaxPool2D()), (v.ReLU(), v.AvgPool2D()),
                             (v.ReLU(), v.ReLU()), (v.Conv2D(2), v.ReLU()), (v.Tanh(), v.MaxPool2D())]:
        assert not layer.absorbs(following), (layer, following)


def test_recording_layers_are_never_paired_and_keep_their_own_outputs():
    # record() (the lab, explain's probes) wants each layer's own output and dout
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 1, 8, 8)).astype(np.float32)
    model = build_model("conv3-4 bn relu pool fc3", (1, 8, 8), seed=0)
    reference = build_model("conv3-4 bn relu pool fc3", (1, 8, 8), seed=0)
    model.record()
    out = model.forward(x)
    dout = np.ones_like(out)
    model.backward(dout)
    assert pairs(model) == []
    expected = [x]
    for layer in reference.layers:
        expected.append(layer.forward(expected[-1]))
    for layer, own in zip(model.layers, expected[1:]):
        np.testing.assert_array_equal(layer.recorded_output, own, err_msg=layer.label())
    assert model[1].recorded_gradient.shape == model[2].recorded_gradient.shape == (3, 4, 8, 8)
    model.record(False)
    model.forward(x)
    assert pairs(model) == [("BatchNorm", "ReLU")]  # the ReLU is batch norm's, so the pool stays alone


def test_a_layer_of_a_pair_has_no_backward_of_its_own_until_its_next_forward():
    model = build_model("conv3-4 bn relu fc3", (1, 6, 6), seed=0)
    x = np.random.default_rng(3).standard_normal((2, 1, 6, 6)).astype(np.float32)
    model.forward(x)
    for layer in model[1], model[2]:
        with pytest.raises(RuntimeError, match=r"^(BatchNorm #2|ReLU #3): its last forward ran as one pass with "
                                               r"(ReLU #3|BatchNorm #2) .*call the model's backward"):
            layer.backward(np.zeros((2, 4, 6, 6), np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm #2 with ReLU #3: backward got dout of shape \(2, 4\), but their "
                                         r"last forward as one pass gave an output of shape \(2, 4, 6, 6\)"):
        model[1].backward_absorbing(np.zeros((2, 4), np.float32), model[2])
    model[2].forward(np.ones((2, 4, 6, 6), np.float32))  # alone again: its own backward works
    np.testing.assert_array_equal(model[2].backward(np.ones((2, 4, 6, 6), np.float32)), 1)


def test_a_model_whose_first_layers_are_a_pair_trains_without_the_images_gradient():
    # Sequential.backward(input_gradient=False) with a pair first: the same parameter gradients
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 6, 6))
    grads = []
    for input_gradient in (True, False):
        model = v.Sequential([v.BatchNorm(), v.ReLU(), v.Flatten(), v.Linear(2)], input_shape=(3, 6, 6), seed=0,
                             dtype=np.float64)
        model.forward(x)
        model.backward(np.ones((4, 2)), input_gradient=input_gradient)
        assert pairs(model) == [("BatchNorm", "ReLU")]
        grads.append(model.grads)
    for name in grads[0]:
        np.testing.assert_array_equal(grads[0][name], grads[1][name], err_msg=name)


def test_a_pair_checks_a_new_input_size_against_both_layers():
    # layers take any input size they fit; a pair asks the absorbed layer too, which names itself
    model = v.Sequential([v.Conv2D(2, 3, pad=1), v.ReLU(), v.MaxPool2D()], input_shape=(1, 8, 8))
    assert model.forward(np.ones((1, 1, 6, 6), np.float32)).shape == (1, 2, 3, 3)
    with pytest.raises(ValueError, match=r"^MaxPool2D #3 does not fit its 7×7×2 input"):
        model.forward(np.ones((1, 1, 7, 7), np.float32))


@pytest.mark.parametrize("alone", [0, 1])
def test_a_pair_has_no_backward_after_a_forward_of_one_of_its_layers_alone(alone):
    # the pair's cache is gone once either layer ran by itself: the pair's backward says so, never a
    # gradient from a mixed cache
    for architecture, shape in [("conv3-4 bn relu fc3", (4, 6, 6)), ("conv3-4 relu pool fc3", (4, 6, 6))]:
        model = build_model(architecture, (1, 6, 6), seed=0)
        x = np.random.default_rng(5).standard_normal((2, 1, 6, 6)).astype(np.float32)
        out = model.forward(x)
        first, second = model[1], model[2]
        pair_out = first.pair_output_shape
        (first if alone == 0 else second).forward(np.ones((2, *shape), np.float32) if alone == 0
                                                  else np.ones((2, *first.output_shape(shape)), np.float32))
        with pytest.raises(RuntimeError, match=r"backward_absorbing needs the pair's forward_absorbing first"):
            first.backward_absorbing(np.zeros(pair_out, np.float32), second)
        with pytest.raises(RuntimeError):
            model.backward(np.ones_like(out))


@pytest.mark.parametrize("architecture", ["conv1-2/nobias relu pool fc3", "conv1-2/nobias bn relu pool fc3"])
def test_pairs_agree_with_the_layers_at_ties_and_zeros(architecture, passes):
    # whole-number inputs through a 1×1 conv give exact zeros and equal maxima in the pool windows
    rng = np.random.default_rng(6)
    x = np.round(rng.normal(0, 1.5, (4, 1, 6, 6)))
    models = [build_model(architecture, (1, 6, 6), seed=2, dtype=np.float64) for _ in range(2)]
    for model in models:
        model[0].params["weight"][...] = np.array([1.0, -1.0]).reshape(2, 1, 1, 1)
    out = models[0].forward(x)
    dout = rng.standard_normal(out.shape)
    dx = models[0].backward(dout)
    assert pairs(models[0])
    models[1].record()
    expected_out, expected_dx = layer_by_layer(models[1], x, dout)
    np.testing.assert_allclose(out, expected_out, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-12, atol=1e-13)
    for name, grad in models[0].grads.items():
        np.testing.assert_allclose(grad, models[1].grads[name], rtol=1e-12, atol=1e-13, err_msg=name)
