"""`volnet export` and `volnet import`, called as the command line would call them."""

from __future__ import annotations

import numpy as np
import pytest

from volnet.cli.main import main
from volnet.training.run import load_trained_model


def one_error_line(capsys, command):
    error = capsys.readouterr().err
    assert "Traceback" not in error and error.count("\n") == 1
    assert error.startswith(f"volnet {command}: error: ")
    return error


@pytest.mark.parametrize("command", ["export", "import"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert f"usage: volnet {command}" in capsys.readouterr().out


@pytest.mark.parametrize("format, suffix", [("onnx", ".onnx"), ("safetensors", ".safetensors"),
                                            ("convnetjs", ".json")])
def test_export_then_import_gives_the_same_predictions(trained, tmp_path, capsys, format, suffix):
    model, normalization, class_names, path = trained
    out = tmp_path / f"exported{suffix}"
    assert main(["export", str(path), "--format", format, "-o", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (")
    if format == "convnetjs":  # export only
        assert out.stat().st_size > 0
        return
    back = tmp_path / "back.npz"
    assert main(["import", str(out), "-o", str(back)]) == 0
    layers = {"onnx": 11, "safetensors": 12}[format]  # ONNX leaves the dropout out
    assert f"imported {out} into {back}: {layers} layers" in capsys.readouterr().out
    imported, imported_normalization, imported_names, metadata = load_trained_model(back)
    x = np.random.default_rng(0).standard_normal((6, *model.input_shape), dtype=np.float32)
    np.testing.assert_array_equal(imported.forward(x), model.forward(x))
    assert imported_names == class_names and metadata["imported_from"] == str(out)
    np.testing.assert_allclose(imported_normalization.mean, normalization.mean, rtol=1e-6)
    assert main(["eval", str(back), "--no-pictures"]) == 0


def test_the_format_comes_from_the_suffix_and_the_file_goes_next_to_the_model(trained, tmp_path, capsys):
    *_, path = trained
    assert main(["export", str(path), "-o", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").read_bytes()[:2] != b"{"
    assert main(["export", str(path.parent), "--format", "safetensors"]) == 0
    assert path.with_suffix(".safetensors").is_file()
    assert "the state_dict of the model's PyTorch twin" in capsys.readouterr().out


def test_export_without_a_format_says_how_to_give_one(trained, capsys):
    *_, path = trained
    assert main(["export", str(path)]) == 2
    assert "say which format: --format onnx, safetensors or convnetjs" in one_error_line(capsys, "export")


def test_a_layer_the_format_cannot_hold_is_named(tmp_path, capsys):
    from volnet.models import build_model, save_model

    save_model(tmp_path / "res.npz", build_model("resnet-small"))
    assert main(["export", str(tmp_path / "res.npz"), "--format", "convnetjs"]) == 2
    assert "Residual #4 has no ConvNetJS form" in one_error_line(capsys, "export")


def test_without_the_onnx_package_the_message_says_what_to_install(trained, tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ModuleNotFoundError("No module named 'onnx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    *_, path = trained
    assert main(["export", str(path), "-o", str(tmp_path / "m.onnx")]) == 2
    assert "--format onnx: ONNX export and import need the onnx package: pip install 'volnet[onnx]'" in \
        one_error_line(capsys, "export")


def test_a_foreign_state_dict_imports_with_arch_and_input_shape(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    import safetensors.torch

    from volnet.bench.mirror import to_torch
    from volnet.models import build_model

    spec = "conv3-4 bn relu pool fc3"
    twin = to_torch(build_model(spec, input_shape=(3, 8, 8), seed=2)).eval()
    path = tmp_path / "twin.safetensors"
    safetensors.torch.save_file(twin.state_dict(), str(path))
    assert main(["import", str(path)]) == 2
    assert "--arch" in one_error_line(capsys, "import")
    assert main(["import", str(path), "--arch", spec, "--input-shape", "3,8,8"]) == 0
    assert "no normalisation, no class names" in capsys.readouterr().out
    model, *_ = load_trained_model(tmp_path / "twin.npz")
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8), dtype=np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(model.forward(x), twin(torch.from_numpy(x)).numpy(), atol=1e-5)


def test_import_keeps_an_existing_model_unless_forced(trained, tmp_path, capsys):
    *_, path = trained
    onnx_file = tmp_path / "m.onnx"
    assert main(["export", str(path), "-o", str(onnx_file)]) == 0
    (tmp_path / "m.npz").write_bytes(b"precious")
    assert main(["import", str(onnx_file)]) == 2
    assert "exists; give another file, or --force" in one_error_line(capsys, "import")
    assert (tmp_path / "m.npz").read_bytes() == b"precious"
    assert main(["import", str(onnx_file), "--force"]) == 0


@pytest.mark.parametrize("args, message", [
    (["weights.pt"], "looks like a pickled PyTorch file"),
    (["model.json"], "ConvNetJS JSON is for export only"),
    (["model.onnx", "--input-shape", "1,28,28"], "--input-shape goes with --arch"),
    (["missing.onnx"], "missing.onnx does not exist"),
])
def test_import_usage_errors_are_one_line(tmp_path, capsys, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights.pt").write_bytes(b"\x80\x04K\x01.")  # pickle.dumps(1)
    (tmp_path / "model.json").write_text('{"layers": []}')
    assert main(["import", *args]) == 2
    assert message in one_error_line(capsys, "import")


@pytest.mark.parametrize("format, name", [("convnetjs", "m.onnx"), ("onnx", "m.json"), ("safetensors", "m.onnx")])
def test_export_refuses_a_file_whose_suffix_names_another_format(trained, tmp_path, capsys, format, name):
    _, _, _, path = trained
    assert main(["export", str(path), "--format", format, "-o", str(tmp_path / name)]) == 2
    assert "but the format is " + format in one_error_line(capsys, "export")
    assert not (tmp_path / name).exists()


def test_import_names_what_is_wrong_with_the_file_before_what_is_in_the_way(tmp_path, capsys):
    pickled = tmp_path / "m.pt"
    pickled.write_bytes(b"\x80\x02}q\x00.")  # a pickle's first bytes, as torch.save writes them
    (tmp_path / "m.npz").write_bytes(b"an earlier model")
    assert main(["import", str(pickled)]) == 2
    assert "never unpickles" in one_error_line(capsys, "import")
