"""ONNX export checked by onnx's checker and by onnxruntime, import of the same subset, and refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from volnet.interop import OPSET, export_onnx, import_model, import_onnx
from volnet.layers import Conv2D, GlobalAvgPool2D, Layer, Linear, ReLU, Sequential
from volnet.models import build_model

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")


def run_onnxruntime(path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probabilities, scores = session.run(["probabilities", "scores"], {"pixels": images.astype(np.float32)})
    return probabilities, scores


@pytest.fixture(scope="session")
def exported(any_model, tmp_path_factory):
    # (model, normalization, class names, path of its .onnx) for each preset and test architecture
    model, normalization, class_names = any_model
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    export_onnx(model, path, normalization, class_names)
    return model, normalization, class_names, path


def test_exported_graphs_pass_the_full_check(exported):
    *_, path = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [opset.version for opset in proto.opset_import if opset.domain in ("", "ai.onnx")] == [OPSET] and OPSET >= 17
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "N" and not batch.HasField("dim_value")


@pytest.mark.parametrize("count", [1, 7])
def test_onnxruntime_gives_volnets_probabilities_for_the_same_pixels(interop, exported, count):
    # any batch size (the batch dimension is dynamic); the normalisation is inside the graph
    model, normalization, _, path = exported
    images = interop.pixels(model.input_shape, count, seed=count)
    probabilities, scores = run_onnxruntime(path, images)
    expected = interop.volnet_probabilities(model, normalization, images)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.exp(scores) / np.exp(scores).sum(1, keepdims=True), expected, atol=1e-5)


def test_export_then_import_predicts_identically(interop, exported):
    model, normalization, class_names, path = exported
    back, metadata = import_onnx(path)
    images = interop.pixels(model.input_shape, 4)
    np.testing.assert_array_equal(interop.volnet_probabilities(back, normalization, images),
                                  interop.volnet_probabilities(model, normalization, images))
    assert metadata["class_names"] == class_names
    np.testing.assert_allclose(metadata["normalization"]["mean"], normalization.mean, rtol=1e-6)
    np.testing.assert_allclose(metadata["normalization"]["std"], normalization.std, rtol=1e-6)
    # the same layers, less dropout (the identity at inference) and a Flatten that a Linear does itself
    kept = [name for name, layer in model.named_layers() if type(layer).__name__ not in ("Dropout", "Flatten")]
    assert len([name for name, _ in back.named_layers()]) == len(kept)


def test_a_trained_model_runs_the_same_in_onnxruntime_and_comes_back(interop, trained, tmp_path):
    model, normalization, class_names, _ = trained
    path = tmp_path / "trained.onnx"
    export_onnx(model, path, normalization, class_names)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    images = interop.pixels(model.input_shape, 16)
    expected = interop.volnet_probabilities(model, normalization, images)
    np.testing.assert_allclose(run_onnxruntime(path, images)[0], expected, atol=1e-5, rtol=0)
    back, metadata = import_model(path)
    np.testing.assert_array_equal(interop.volnet_probabilities(back, normalization, images), expected)
    assert metadata["class_names"] == class_names == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def test_metadata_holds_class_names_and_normalisation(exported):
    _, normalization, class_names, path = exported
    properties = {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}
    assert json.loads(properties["class_names"]) == class_names
    assert json.loads(properties["normalization"]) == normalization.to_dict()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter, which needs no onnxscript
def test_pytorchs_own_onnx_export_imports_too(interop, tmp_path):
    # torch folds batch norm into the convolutions and shares constants through Identity nodes
    torch = pytest.importorskip("torch")
    from volnet.bench.mirror import to_torch

    for spec in ("fashion", "resnet-small", interop.EVERY_LAYER):
        model, *_ = interop.random_model(spec)
        path = tmp_path / "torch.onnx"
        torch.onnx.export(to_torch(model).eval(), (torch.zeros(1, *model.input_shape),), str(path), dynamo=False,
                          opset_version=OPSET, input_names=["x"], dynamic_axes={"x": {0: "N"}})
        back, metadata = import_onnx(path)
        x = np.random.default_rng(0).standard_normal((3, *model.input_shape), dtype=np.float32)
        np.testing.assert_allclose(back.forward(x), model.forward(x), atol=1e-5, rtol=0)
        assert metadata == {"normalization": None, "class_names": None}


# -- refusals ------------------------------------------------------------------------------------

class Doubling(Layer):
    # a layer of the user's own, which ONNX export cannot know
    def forward(self, x):
        return 2 * self.check_input(x)


def test_a_layer_onnx_cannot_express_is_refused_by_name(tmp_path):
    model = Sequential(Conv2D(4, 3, pad=1), Doubling(), GlobalAvgPool2D(), Linear(3), input_shape=(1, 8, 8))
    with pytest.raises(TypeError, match=r"Doubling #2 cannot be expressed in ONNX"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def graph_file(tmp_path, nodes, initializers=(), name="model.onnx", output="y", output_shape=("N", 4)):
    # an ONNX model with input x (N, 1, 4, 4) around the given nodes
    helper = onnx.helper
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 1, 4, 4])],
        [helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, list(output_shape))],
        initializer=[onnx.numpy_helper.from_array(np.asarray(value, np.float32), key) for key, value in initializers])
    path = tmp_path / name
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8), str(path))
    return path


def test_an_unknown_op_is_refused_naming_node_and_op(tmp_path):
    path = graph_file(tmp_path, [onnx.helper.make_node("Elu", ["x"], ["y"], name="the_elu")],
                      output_shape=("N", 1, 4, 4))
    with pytest.raises(ValueError, match=rf"{path}: node 'the_elu' \(op Elu\): no volnet layer computes it"):
        import_onnx(path)


def test_branches_that_do_not_meet_in_an_add_are_refused(tmp_path):
    nodes = [onnx.helper.make_node("Relu", ["x"], ["a"], name="left"), onnx.helper.make_node("Sigmoid", ["x"], ["b"],
                                                                                            name="right"),
             onnx.helper.make_node("Mul", ["a", "b"], ["y"], name="product")]
    path = graph_file(tmp_path, nodes, output_shape=("N", 1, 4, 4))
    with pytest.raises(ValueError, match=r"node 'product' \(op Mul\)"):
        import_onnx(path)


def test_asymmetric_padding_is_refused(tmp_path):
    node = onnx.helper.make_node("Conv", ["x", "w"], ["y"], name="lopsided", pads=[1, 1, 0, 0], kernel_shape=[2, 2])
    path = graph_file(tmp_path, [node], [("w", np.ones((2, 1, 2, 2)))], output_shape=("N", 2, 4, 4))
    with pytest.raises(ValueError, match=r"node 'lopsided' \(op Conv\): pads \[1, 1, 0, 0\] differ"):
        import_onnx(path)


def test_weights_that_disagree_with_the_input_are_refused_naming_the_node(tmp_path):
    # a Gemm for 15 inputs after a Flatten of 1×4×4 = 16 numbers
    nodes = [onnx.helper.make_node("Flatten", ["x"], ["f"], name="flat"),
             onnx.helper.make_node("Gemm", ["f", "w"], ["y"], name="scores", transB=1)]
    path = graph_file(tmp_path, nodes, [("w", np.ones((4, 15)))])
    with pytest.raises(ValueError, match=r"node 'scores' \(op Gemm\).*16.*15|node 'scores' \(op Gemm\).*15.*16"):
        import_onnx(path)


def test_external_data_is_refused(interop, tmp_path):
    model, normalization, class_names = interop.random_model("tiny")
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    proto = onnx.load(str(path))
    onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True, size_threshold=0,
                    location="weights.bin")
    with pytest.raises(ValueError, match=r"keeps its data in another file"):
        import_onnx(path)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_files_are_refused_naming_the_file(interop, tmp_path, damage):
    model, *_ = interop.random_model("tiny")
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    whole = path.read_bytes()
    damaged = {"truncated": whole[:len(whole) // 2], "garbage": np.random.default_rng(0).bytes(4000),
               "empty": b""}[damage]
    path.write_bytes(damaged)
    with pytest.raises(ValueError, match=rf"^{path}"):
        import_onnx(path)


def test_a_model_that_is_not_built_or_gives_volumes_is_refused(interop, tmp_path):
    with pytest.raises(ValueError, match=r"must be built for volumes"):
        export_onnx(Sequential(ReLU()), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"wants class scores"):
        export_onnx(interop.with_statistics(build_model("conv3-4 relu", input_shape=(1, 8, 8))), tmp_path / "m.onnx")


def test_a_layers_own_objection_is_reported_with_the_node(tmp_path):
    # 2 filters cannot be split into 3 groups: Conv2D's own check, named after the node
    node = onnx.helper.make_node("Conv", ["x", "w"], ["y"], name="odd_groups", group=3, kernel_shape=[1, 1])
    path = graph_file(tmp_path, [node], [("w", np.ones((2, 1, 1, 1)))], output_shape=("N", 2, 4, 4))
    with pytest.raises(ValueError, match=r"node 'odd_groups' \(op Conv\): .*divisible by groups"):
        import_onnx(path)


def test_an_input_that_is_not_a_float_batch_of_images_is_refused(tmp_path):
    helper = onnx.helper
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 16])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 16])])
    path = tmp_path / "vectors.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8), str(path))
    with pytest.raises(ValueError, match=r"input 'x' must be float32 \(N, D, H, W\)"):
        import_onnx(path)
