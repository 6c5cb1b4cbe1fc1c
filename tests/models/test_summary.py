import numpy as np
import pytest

from volnet.layers import Layer, Parameter, Sequential
from volnet.models import build_model, parse_architecture, summary, summary_rows, summary_totals

VGG16 = ("[conv3-64 relu]*2 pool [conv3-128 relu]*2 pool [conv3-256 relu]*3 pool [conv3-512 relu]*3 pool "
         "[conv3-512 relu]*3 pool fc4096 relu fc4096 relu fc1000")


def test_a_tiny_net_by_hand():
    # 8×8×1 input; conv3-4 ("same"): 4 filters of 3×3×1 + 4 biases = 40 parameters, 8·8·4 outputs
    # of 9 multiply-adds each = 2,304; relu 256; pool 2×2: 4·4·4 outputs × 4 = 256; fc10 on 64
    # inputs: 640 weights + 10 biases, 640 multiply-adds
    model = build_model("conv3-4 relu pool fc10", input_shape=(1, 8, 8))
    rows = summary_rows(model)
    assert [row.index for row in rows] == ["", "1", "2", "3", "4"]
    assert [row.output_shape for row in rows] == [(1, 8, 8), (4, 8, 8), (4, 8, 8), (4, 4, 4), (10,)]
    assert [row.parameters for row in rows] == [0, 40, 0, 0, 650]
    assert [row.multiply_adds for row in rows] == [0, 2304, 256, 256, 640]
    assert [row.activations for row in rows] == [64, 256, 256, 64, 10]
    totals = summary_totals(model)
    assert totals["parameters"] == 690 and totals["parameter_bytes"] == 690 * 4
    assert totals["activations"] == 650 and totals["activation_bytes"] == 2600
    assert totals["training_activation_bytes"] == 5200
    assert totals["multiply_adds"] == 3456 and totals["flops"] == 6912
    assert summary_totals(model.to(np.float64))["activation_bytes"] == 5200


def test_other_layers_by_hand():
    # bn: 2 parameters and 2 statistics per depth slice, 1 multiply-add per number; gap: one
    # addition per input number; flatten and dropout: nothing, and flatten keeps no new array;
    # a grouped conv sees D/G of the depth
    model = build_model("conv3-4/g2/nobias bn gap flatten dropout", input_shape=(2, 3, 3))
    rows = summary_rows(model)[1:]
    assert [row.parameters for row in rows] == [4 * 1 * 9, 8, 0, 0, 0]
    assert [row.multiply_adds for row in rows] == [3 * 3 * 4 * 9 * 1, 36, 36, 0, 0]
    assert [row.activations for row in rows] == [36, 36, 4, 0, 4]
    assert [row.statistics for row in rows] == [0, 8, 0, 0, 0]


def test_counts_agree_with_the_built_parameters():
    for name in ("fashion", "resnet-small"):
        model = build_model(name)
        expected = sum(p.data.size for p in model.parameters().values())
        assert summary_totals(model)["parameters"] == expected
        statistics = sum(buffer.data.size for buffer in model.buffers().values())
        assert summary_totals(model)["running_statistics"] == statistics


def test_residual_rows_are_nested():
    model = build_model("conv3-4 res[conv3-8 bn relu]", input_shape=(1, 6, 6))
    rows = summary_rows(model)
    assert [(row.index, row.level) for row in rows] == [
        ("", 0), ("1", 0), ("2", 0), ("2.1", 1), ("2.2", 1), ("2.3", 1), ("2.shortcut.1", 1), ("2.shortcut.2", 1)]
    assert rows[2].layer == "Residual (body + projection)" and rows[2].multiply_adds == 8 * 36
    assert rows[6].parameters == 4 * 8  # the 1×1 projection, without bias before its bn
    table = summary(model).split("\n\n")[0]
    lines = {line.split()[0]: line for line in table.splitlines()[1:] if line[:1].isdigit()}
    top, inside = lines["1"].index("Conv2D"), lines["2.1"].index("Conv2D")
    assert inside == top + 2  # nested rows are indented


def test_vgg16_parameter_count_without_allocating():
    # the CS231n VGGNet: 138M parameters; the layers are never built, so no weights are allocated
    model = Sequential(parse_architecture(VGG16, input_shape=(3, 224, 224)))
    totals = summary_totals(model, input_shape=(3, 224, 224))
    assert totals["parameters"] == 138_357_544
    assert not model.built and model.layers[0].weight is None
    assert totals["multiply_adds"] > 15_000_000_000  # the notes' ~15.5G
    table = summary(model, input_shape=(3, 224, 224))
    assert "224×224×64" in table and "7×7×512" in table and "138,357,544" in table


def test_table_text():
    text = summary(build_model("tiny"))
    lines = text.splitlines()
    assert [cell.strip() for cell in lines[0].split("  ") if cell.strip()] == [
        "#", "layer", "output", "F, S, P", "field", "jump", "params", "mult-adds", "activations", "memory"]
    assert lines[1].split()[:4] == ["input", "28×28×1", "1×1", "1"]
    assert "parameters: 105,866 (413.5 KiB as float32)" in text
    assert "forward + backward" in text and "FLOPs" in text


def test_unknown_layers_show_their_parameters_and_a_question_mark():
    class Scale(Layer):
        def _create_parameters(self, input_shape, rng):
            self.gain = Parameter(np.ones(input_shape, self.dtype))

    model = Sequential([Scale()], input_shape=(2, 3, 3))
    row = summary_rows(model)[1]
    assert row.parameters == 18 and row.multiply_adds is None
    assert "?" in summary(model)


def test_summary_errors():
    with pytest.raises(ValueError, match=r"summary needs input_shape"):
        summary(Sequential(parse_architecture("conv3-4")))
    with pytest.raises(TypeError, match=r"summary takes a model"):
        summary(42)


def test_receptive_fields_of_a_known_stack_by_hand():
    # conv3 (pad 1): r = 1 + 2·1 = 3, start −1; pool2: r = 3 + 1·1 = 4, j = 2; conv5/s2 (pad 2):
    # r = 4 + 4·2 = 12, j = 4, start −1 − 2·2 = −5; dilated conv3/d2 (pad 2): F_eff = 5, r = 12 + 4·4 = 28
    model = build_model("conv3-4 relu pool conv5-4/s2 conv3-4/d2 fc10", input_shape=(1, 30, 30))
    fields = [(row.field[0].size, row.field[0].jump, row.field[0].start) for row in summary_rows(model)]
    assert fields[:6] == [(1, 1, 0), (3, 1, -1), (3, 1, -1), (4, 2, -1), (12, 4, -5), (28, 4, -13)]
    assert summary_rows(model)[-1].field[0].whole
    # rectangular filters and strides act on each axis apart
    rows = summary_rows(Sequential(parse_architecture("conv3-2/p0", input_shape=(1, 9, 9))), input_shape=(1, 9, 9))
    assert rows[1].field[0].size == rows[1].field[1].size == 3


def test_a_residual_blocks_field_is_the_union_of_its_paths():
    model = build_model("res[conv3-4 relu conv3-4]", input_shape=(1, 8, 8))
    block = summary_rows(model)[1]
    assert (block.field[0].size, block.field[0].start) == (5, -2)


def test_parameter_sharing_counts():
    # 32×32×3 input, 6 filters of 5×5, pad 2: (5·5·3 + 1)·6 = 456 shared; 456·32·32 unshared;
    # fully connected: (3072 + 1)·6144
    rows = summary_rows(build_model("conv5-6", input_shape=(3, 32, 32)))
    sharing = rows[1].sharing
    assert (sharing.shared, sharing.unshared, sharing.fully_connected) == (456, 456 * 1024, 3073 * 6144)
    assert sharing.shared == rows[1].parameters
    assert sharing.formulas() == ("(5·5·3 + 1)·6 = 456", "456·1,024 = 466,944", "(3,072 + 1)·6,144 = 18,880,512")
    text = summary(build_model("conv5-6", input_shape=(3, 32, 32)))
    assert "(5·5·3 + 1)·6 = 456" in text and "depth column" in text and "120,000" in text
    assert "5, 1, 2" in text  # 'same' padding still shows F, S and P
    assert rows[1].number == "1" and summary_rows(build_model("resnet-small"))[-1].number.count(".") == 0


def test_summary_takes_a_preset_or_an_architecture_string_as_the_cli_does():
    from volnet.models import build_model

    assert summary("tiny") == summary(build_model("tiny"))
    assert summary("conv3-4 fc2", (1, 6, 6)) == summary(build_model("conv3-4 fc2", (1, 6, 6)))
