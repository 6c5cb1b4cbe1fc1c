"""Receptive fields against the gradient's reach, the top images of a neuron against brute force, nearest
neighbours, PCA and t-SNE."""

import numpy as np
import pytest

from tests.gradient_reach import gradient_reach
from volnet.explain import nearest_neighbours, pca, penultimate_codes, receptive_field, top_images, tsne
from volnet.explain.embedding import spread_out
from volnet.explain.probe import find_layer
from volnet.models import build_model

# linear nets (no ReLU, average pooling): every input number in a receptive field has a nonzero gradient
# (architecture, the input's side): padding, stride, dilation, a residual block
LINEAR_NETS = [("conv3-2 avgpool conv3-2", 16), ("conv5-2/s2/p1 conv3-2/d2 avgpool3/s2", 19),
               ("conv3-2/p0 res[conv3-2 bn] avgpool", 16), ("conv3-2/s2 conv3-2/s2/p0 bn conv1-2", 17)]


@pytest.mark.parametrize("architecture, side", LINEAR_NETS)
def test_receptive_field_is_where_the_gradient_of_one_output_number_reaches(architecture, side):
    shape = (2, side, side)
    model = build_model(architecture, shape, seed=0).to(np.float64).eval()
    for last in range(1, len(model) + 1):
        layer = model.layers[last - 1]
        _, height, width = layer.output_shape(layer.input_shape)
        field = receptive_field(model, layer)
        for row, column in {(0, 0), (height - 1, width - 1), (height // 2, width // 3)}:
            assert field.box(row, column, side, side) == gradient_reach(model, last, (row, column), shape, depth=1)


def test_receptive_field_by_the_rule_and_inside_blocks():
    model = build_model("conv3-4 relu pool conv3-8 relu pool res[conv3-8 relu conv3-8] gap fc3", (1, 28, 28))
    # sizes 3 → 4 (pool, jump 2) → 8 → 10 (jump 4) → 18 → 26 (the block's two convs);
    # "same" padding moves the start to −1, −3, −7, −11
    sizes = {1: 3, 3: 4, 4: 8, 6: 10, "7.1": 18, "7.3": 26, 7: 26}
    for name, size in sizes.items():
        field = receptive_field(model, find_layer(model, name))
        assert field.size == (size, size) and not field.whole
    assert receptive_field(model, find_layer(model, 6)).jump == (4, 4)
    assert receptive_field(model, find_layer(model, 4)).start == (-3, -3)
    assert receptive_field(model, find_layer(model, 8)).whole
    assert receptive_field(model, find_layer(model, 8)).box(0, 0, 28, 28) == (0, 0, 28, 28)


def test_top_images_are_the_strongest_responses_of_the_depth_slice():
    rng = np.random.default_rng(1)
    model = build_model("conv3-4 relu pool conv3-3 fc2", (1, 10, 10), seed=2)
    x = rng.standard_normal((30, 1, 10, 10)).astype(np.float32)
    hits = top_images(model, x, 4, depth=2, count=5)
    model.eval().record()
    model.forward(x)
    activation = model.layers[3].recorded_output[:, 2]
    model.record(False)
    strongest = activation.reshape(30, -1).max(axis=1)
    assert [hit.index for hit in hits] == list(np.argsort(-strongest, kind="stable")[:5])
    for hit in hits:
        assert hit.activation == pytest.approx(strongest[hit.index])
        assert activation[hit.index, hit.row, hit.column] == strongest[hit.index]
        top, left, bottom, right = hit.box
        # the receptive field of the conv after the pool: 8×8, cut at the edges
        assert bottom - top <= 8 and right - left <= 8 and 0 <= top and bottom <= 10
    with pytest.raises(ValueError, match=r"layer 4 \(conv 3×3, 3 filters, pad 1\) has 3 depth slices, 0 to 2; "
                                         r"there is no depth slice 3"):
        top_images(model, x, 4, depth=3)
    # an fc layer's numbers are neurons too; they see the whole image
    assert top_images(model, x, 5, depth=1, count=2)[0].box == (0, 0, 10, 10)


def test_nearest_neighbours_are_the_brute_force_ones_without_the_query():
    rng = np.random.default_rng(2)
    pool = rng.standard_normal((50, 7))
    found = nearest_neighbours(pool[4], pool, count=6, exclude=4)
    distances = np.linalg.norm(pool - pool[4], axis=1)
    distances[4] = np.inf
    assert list(found.indices) == list(np.argsort(distances)[:6])
    np.testing.assert_allclose(found.distances, np.sort(distances)[:6])
    assert list(nearest_neighbours(pool[4], pool, count=1).indices) == [4]
    with pytest.raises(ValueError, match="the number of neighbours must be 1 to 49, got 50"):
        nearest_neighbours(pool[4], pool, count=50, exclude=4)
    with pytest.raises(ValueError, match="the query has 3 numbers but the pool's rows have 7"):
        nearest_neighbours(pool[4, :3], pool)


def test_penultimate_codes_are_what_the_last_layer_receives():
    rng = np.random.default_rng(3)
    model = build_model("conv3-4 relu pool fc6 relu dropout0.5 fc3", (1, 8, 8), seed=0).to(np.float64)
    x = rng.standard_normal((5, 1, 8, 8))
    codes = penultimate_codes(model, x, batch_size=2)
    assert codes.shape == (5, 6)
    last = model.layers[-1]
    np.testing.assert_allclose(codes @ last.weight.data.T + last.bias.data, model.eval().forward(x), atol=1e-12)


def test_pca_finds_the_directions_of_largest_variance():
    rng = np.random.default_rng(4)
    codes = rng.standard_normal((400, 5)) * np.array([5.0, 3.0, 1.0, 0.5, 0.1]) + 7
    points, shares = pca(codes)
    covariance = np.cov(codes.T, bias=True)
    eigenvalues = np.sort(np.linalg.eigvalsh(covariance))[::-1]
    np.testing.assert_allclose(points.var(axis=0), eigenvalues[:2], rtol=1e-10)
    np.testing.assert_allclose(shares, eigenvalues[:2] / eigenvalues.sum(), rtol=1e-10)
    assert abs(np.corrcoef(points.T)[0, 1]) < 1e-10 and np.allclose(points.mean(axis=0), 0)
    with pytest.raises(ValueError, match="can keep 1 to 5 directions"):
        pca(codes, dims=6)


def test_tsne_keeps_separated_groups_apart():
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(5)
    codes = np.concatenate([rng.standard_normal((40, 10)) + 8 * k for k in range(3)])
    points = tsne(codes, perplexity=10)
    groups = np.repeat(np.arange(3), 40)
    # every point's nearest other point in the map belongs to its own group
    distances = np.linalg.norm(points[:, None] - points[None], axis=2) + np.eye(120) * 1e9
    assert (groups[distances.argmin(axis=1)] == groups).all()
    with pytest.raises(ValueError, match=r"perplexity must be above 0 and below the number of codes \(120\)"):
        tsne(codes, perplexity=200)


def test_thumbnails_are_spread_out():
    points = np.random.default_rng(6).standard_normal((200, 2))
    chosen = spread_out(points, 10)
    assert len(set(chosen)) == 10
    gaps = np.linalg.norm(points[chosen][:, None] - points[chosen][None], axis=2) + np.eye(10) * 1e9
    everything = np.linalg.norm(points[:, None] - points[None], axis=2) + np.eye(200) * 1e9
    assert gaps.min() > 5 * everything.min()
