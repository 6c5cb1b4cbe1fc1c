# The numbers the lab shows, against independent computations: a conv neuron's dot product
# against a plain loop over the padded input, a pooling window's winner against np.max, the
# written-out parameter counts against the summary's.
import numpy as np
import pytest

from volnet.explain import grad_cam, saliency_map
from volnet.lab import probe
from volnet.lab.wire import unpicture
from volnet.layers import Conv2D, MaxPool2D
from volnet.models import build_model, summary_rows


def direct_output(x, weight, bias, stride, pad, dilation, groups, k, row, col):
    # one output number straight from the definition: zero-pad, then Σ over the filter's taps
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    depth = weight.shape[1]
    first = k // (weight.shape[0] // groups) * depth
    total = bias[k]
    for d in range(depth):
        for i in range(weight.shape[2]):
            for j in range(weight.shape[3]):
                total += weight[k, d, i, j] * padded[first + d, row * stride + i * dilation, col * stride + j * dilation]
    return total


@pytest.mark.parametrize("size, stride, pad, dilation, groups", [
    (3, 1, 1, 1, 1), (3, 2, 0, 1, 1), (5, 1, 2, 1, 1), (3, 1, 2, 2, 1), (3, 1, 1, 1, 2), (1, 1, 0, 1, 1), (3, 3, 0, 1, 4)])
def test_conv_neuron_is_the_dot_product_of_its_receptive_field(size, stride, pad, dilation, groups):
    rng = np.random.default_rng(size + stride + pad + dilation + groups)
    conv = Conv2D(8, size, stride=stride, pad=pad, dilation=dilation, groups=groups)
    conv.build((4, 9, 9), dtype=np.float64, rng=rng)
    conv.bias.data[...] = rng.standard_normal(8)
    x = rng.standard_normal((1, 4, 9, 9))
    out = conv.forward(x)[0]
    for k, row, col in [(0, 0, 0), (7, out.shape[1] - 1, out.shape[2] - 1), (3, out.shape[1] // 2, 0)]:
        found = probe.conv_neuron(conv, x[0], k, row, col)
        expected = direct_output(x[0], conv.weight.data, conv.bias.data, stride, pad, dilation, groups, k, row, col)
        assert found["sum"] == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert found["sum"] == pytest.approx(out[k, row, col], rel=1e-10, abs=1e-12)
        assert np.sum(found["products"]) + found["b"] == pytest.approx(found["sum"])
        assert found["rows"][0] == row * stride - pad and len(found["cols"]) == size


def test_conv_neuron_outside_the_output_is_refused():
    conv = Conv2D(2, 3)
    conv.build((1, 5, 5))
    with pytest.raises(ValueError, match=r"outputs k < 2, row < 3, column < 3; got \(0, 3, 0\)"):
        probe.conv_neuron(conv, np.zeros((1, 5, 5), np.float32), 0, 3, 0)


@pytest.mark.parametrize("size, stride, pad", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_pool_neuron_names_the_input_that_won(size, stride, pad):
    rng = np.random.default_rng(size * 10 + stride + pad)
    pool = MaxPool2D(size, stride, pad)
    x = rng.standard_normal((1, 3, 7, 7)) if (7 - size + 2 * pad) % stride == 0 else rng.standard_normal((1, 3, 8, 8))
    out = pool.forward(x)[0]
    for d, row, col in [(0, 0, 0), (2, out.shape[1] - 1, out.shape[2] - 1)]:
        found = probe.pool_neuron(pool, x[0], d, row, col)
        assert found["max"] == out[d, row, col]
        assert x[0, d, found["winner"][0], found["winner"][1]] == out[d, row, col]
        inside = [v for line in found["x"] for v in line if v is not None]
        assert max(inside) == found["max"]


@pytest.mark.parametrize("architecture, shape", [("tiny", None), ("conv5-6/nobias bn relu pool fc10", (3, 12, 12)),
                                                 ("conv3-8/g2 relu gap fc4", (4, 8, 8))])
def test_written_out_parameter_counts_add_up_to_the_summary(architecture, shape):
    model = build_model(architecture, input_shape=shape)
    rows = [row for row in summary_rows(model) if row.index and "." not in row.index]
    for layer, row in zip(model.layers, rows):
        formula = probe.parameter_formula(layer)
        total = int(formula.rpartition("= ")[2].replace(",", "") if "=" in formula else formula.replace(",", ""))
        assert total == row.parameters
        terms = formula.partition(" =")[0].split(" + ")
        assert sum(int(np.prod([int(n) for n in term.split("×")])) for term in terms) == total or total == 0


def test_a_conv_layer_is_written_k_f_f_d_plus_k():
    model = build_model("conv3-16 relu fc10", input_shape=(1, 28, 28))
    assert probe.parameter_formula(model.layers[0]) == "16×3×3×1 + 16 = 160"
    assert probe.parameter_formula(model.layers[1]) == "0"


def test_layer_cards_report_ratios_dead_units_and_flags():
    rng = np.random.default_rng(0)
    model = build_model("conv3-4 relu pool fc10", input_shape=(1, 8, 8), seed=0)
    model.layers[0].bias.data[:2] = -100  # two filters that never fire: half the ReLU units dead
    x = rng.standard_normal((6, 1, 8, 8)).astype(np.float32)
    seen = probe.look(model, x, 3)
    weights = {name: p.data.copy() for name, p in model.parameters().items()}
    steps = {name: {"weight": value, "update": np.full_like(value, 0.5), "grad": np.ones_like(value)}
             for name, value in weights.items()}
    cards = probe.layer_cards(model, seen, steps)
    assert [card["type"] for card in cards] == ["Conv2D", "ReLU", "MaxPool2D", "Linear"]
    # numbered as `volnet summary` numbers them
    assert [card["number"] for card in cards] == [row.number for row in summary_rows(model)[1:] if row.level == 0]
    assert cards[1]["dead"] == pytest.approx(0.5, abs=0.05)
    assert not any("dead" in flag for flag in cards[1]["flags"])  # 50% is at the limit, not over it
    conv = cards[0]
    expected = np.sqrt(sum(0.25 * value.size for name, value in weights.items() if name.startswith("0."))) / \
        np.sqrt(sum(np.sum(value.astype(np.float64) ** 2) for name, value in weights.items() if name.startswith("0.")))
    assert conv["update_ratio"] == pytest.approx(expected, rel=1e-6)
    assert any(flag.startswith("update/weight") and "too high" in flag for flag in conv["flags"])
    assert cards[0]["clickable"] and cards[2]["clickable"] and not cards[3]["clickable"]
    # the gradient looked at is that of row 0's loss only
    assert not np.any(seen.gradients[0][1:]) and np.any(seen.gradients[0][0])


def test_looking_leaves_the_training_gradients_and_mode_as_they_were():
    rng = np.random.default_rng(1)
    model = build_model("conv3-4 bn relu pool dropout0.5 fc10", input_shape=(1, 8, 8), seed=0)
    for p in model.parameters().values():
        p.grad[...] = rng.standard_normal(p.grad.shape)
    before = {name: p.grad.copy() for name, p in model.parameters().items()}
    x = rng.standard_normal((3, 1, 8, 8)).astype(np.float32)
    probe.look(model, x, 1)
    saliency_map(model, x[0], 4)
    grad_cam(model, x[0], 4)
    assert model.training and all(not layer.recording for _, layer in model.named_layers())
    for name, p in model.parameters().items():
        np.testing.assert_array_equal(p.grad, before[name])


def test_cards_send_filter_banks_and_small_matrices_but_only_the_numbers_of_large_ones():
    model = build_model("conv3-20 relu fc70 relu fc10", input_shape=(3, 6, 6), seed=0)
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    steps = {name: {"weight": p.data, "update": np.zeros_like(p.data), "grad": p.grad}
             for name, p in model.parameters().items()}
    cards = probe.layer_cards(model, probe.look(model, x, 0), steps)
    bank, weight = cards[0]["weights"][0]["value"], model.layers[0].weight.data
    assert bank["shape"] == [probe.MAX_FILTERS * 3, 3, 3] and bank["full"] == [20, 3, 3, 3]
    assert bank["min"] == weight.min() and bank["max"] == weight.max()  # of all 20 filters
    np.testing.assert_allclose(unpicture(bank), weight[:probe.MAX_FILTERS].reshape(-1, 3, 3), atol=np.ptp(weight) / 500)
    large, small = cards[2]["weights"][0]["value"], cards[4]["weights"][0]["value"]
    assert large["data"] is None and large["full"] == [70, 720]  # 50,400 numbers: statistics only
    assert small["data"] is not None and small["shape"] == [10, 70]
    weight = model.layers[4].weight.data
    np.testing.assert_allclose(unpicture(small), weight, atol=np.ptp(weight) / 500)
