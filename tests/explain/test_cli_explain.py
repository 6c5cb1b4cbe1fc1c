"""`volnet explain METHOD MODEL`: every method on a 28×28×1 model of the embedded sample and on a
32×32×3 (CIFAR-10-shaped) model of an image folder; bad arguments refused in one line."""

import numpy as np
import pytest
from PIL import Image

from volnet.cli.main import main
from volnet.data import load_dataset
from volnet.models import build_model, save_model

SAMPLE_CLASSES = load_dataset("sample", "test").class_names
# (method, extra arguments; {images} is how many images of the split to use): kept small so the sweep stays fast
METHODS = [("saliency", ["--index", "3"]), ("occlusion", ["--size", "8", "--stride", "4"]), ("gradcam", []),
           ("cam", []), ("classes", ["--steps", "3", "--class", "1"]), ("fooling", ["--steps", "5"]),
           ("neuron", ["--layer", "1", "--depth", "2", "--top-k", "4", "--limit", "{images}"]),
           ("neighbours", ["--count", "3", "--limit", "{images}"]),
           ("embedding", ["--limit", "{images}", "--thumbnails", "5"]),
           ("embedding", ["--method", "tsne", "--limit", "{images}", "--perplexity", "3"])]
IMAGES = {"sample": 60, "cifar": 12}  # the folder's test split has 12 images

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    # untrained models saved as `volnet train` saves them: one for the sample, one for a folder of 32×32 RGB images
    root = tmp_path_factory.mktemp("explain")
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in ("bird", "cat", "ship"):
            (root / "pictures" / split / name).mkdir(parents=True)
            for index in range(4):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / "pictures" / split / name / f"{index}.png")
    sample = build_model("conv3-4 relu pool conv3-8 relu gap fc10", (1, 28, 28), seed=0)
    save_model(root / "sample.npz", sample, {"dataset": "sample", "normalization": {"mean": [0.29], "std": [0.35]}},
               SAMPLE_CLASSES)
    cifar = build_model("conv3-8 bn relu pool conv3-8 relu pool conv3-16 relu gap fc3", (3, 32, 32), seed=0)
    save_model(root / "cifar.npz", cifar, {"dataset": str(root / "pictures"),
                                           "normalization": {"mean": [0.5] * 3, "std": [0.25] * 3}},
               ["bird", "cat", "ship"])
    return {"sample": root / "sample.npz", "cifar": root / "cifar.npz"}


# every method on both models; t-SNE from the command line once (test_neurons_and_codes checks its content)
CASES = [(which, method, extra) for which in ("sample", "cifar") for method, extra in METHODS
         if not ("tsne" in extra and which == "sample")]


@pytest.mark.parametrize("which, method, extra", CASES)
def test_every_method_writes_its_picture_and_prints_its_numbers(models, which, method, extra, tmp_path, capsys):
    if "tsne" in extra:
        pytest.importorskip("sklearn")
    extra = [word.format(images=IMAGES[which]) for word in extra]
    assert main(["explain", method, str(models[which]), "--out", str(tmp_path), *extra]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    picture = tmp_path / out[-1].rsplit("/", 1)[-1]
    assert out[-1] == str(picture) and picture.suffix == ".png"
    with Image.open(picture) as image:
        assert image.width > 300 and image.height > 150
    assert len(out) >= 2  # the numbers come before the file


def test_the_printed_numbers_say_what_was_computed(models, tmp_path, capsys):
    assert main(["explain", "saliency", str(models["sample"]), "--index", "0", "--class", "sneaker",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sample/test[0]: predicted ") and ", true Ankle boot" in out
    assert "saliency of Sneaker: M = max over depth of |∂score/∂x|" in out
    assert (tmp_path / "saliency-sample-test-0-Sneaker.png").is_file()
    assert main(["explain", "fooling", str(models["cifar"]), "--steps", "20", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "the change in pixel levels (0–255): L2 " in out and ", L∞ " in out
    assert main(["explain", "gradcam", str(models["cifar"]), "--layer", "5", "--out", str(tmp_path)]) == 0
    assert "at layer 5 (conv 3×3, 8 filters, pad 1)" in capsys.readouterr().out


def test_an_image_file_is_converted_and_resized_to_the_model_s_input(models, tmp_path, capsys):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (50, 40, 3), dtype=np.uint8)).save(path)
    for which in ("sample", "cifar"):
        assert main(["explain", "occlusion", str(models[which]), str(path), "--out", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"{path}: predicted ") and "true" not in out.splitlines()[0]


def error_of(capsys, argv):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err.count("\n") == 1
    prefix = f"volnet explain {argv[1]}: error: "
    assert captured.err.startswith(prefix)
    return captured.err[len(prefix):].strip()


def test_bad_arguments_are_refused_with_the_rule(models, tmp_path, capsys):
    sample, cifar = str(models["sample"]), str(models["cifar"])
    out = ["--out", str(tmp_path)]
    assert error_of(capsys, ["explain", "gradcam", sample, "--layer", "2", *out]) == (
        "layer 2 is ReLU #2, not a conv layer; the conv layers are 1, 4")
    assert error_of(capsys, ["explain", "gradcam", cifar, "--layer", "4.2", *out]).startswith(
        "the model has no layer 4.2; its layers are numbered as in `volnet summary`: 1, 2, 3")
    assert error_of(capsys, ["explain", "saliency", sample, "--class", "12", *out]).startswith(
        "class 12 does not exist: the model has 10 classes, 0 to 9 (0 'T-shirt/top', 1 'Trouser'")
    assert error_of(capsys, ["explain", "classes", cifar, "--class", "dog", *out]) == (
        "unknown class 'dog'; the model's classes are 0 'bird', 1 'cat', 2 'ship'")
    wide = tmp_path / "wide.npz"  # Fashion-MNIST's classes, but 32×32×3 inputs
    save_model(wide, build_model("conv3-4 relu gap fc10", (3, 32, 32), seed=0), {"dataset": "sample"}, SAMPLE_CLASSES)
    assert error_of(capsys, ["explain", "saliency", str(wide), *out]) == (
        f"sample/test has images of 28×28×1 but {wide} takes 32×32×3; give --dataset with images of that shape, "
        f"or an IMAGE file")
    assert error_of(capsys, ["explain", "saliency", cifar, "--dataset", "sample", *out]).startswith(
        "sample/test has other classes than the model: the model knows 'bird', 'cat', 'ship'")
    assert error_of(capsys, ["explain", "occlusion", sample, "--index", "2000", *out]) == (
        "--index 2000 is outside sample/test, which has images 0 to 1999")
    assert error_of(capsys, ["explain", "occlusion", sample, "--size", "29", *out]) == (
        "the occluding patch must be 1 to 28 pixels on a side for 28×28 images, got size 29")
    assert error_of(capsys, ["explain", "occlusion", sample, "--stride", "0", *out]) == (
        "--stride must be at least 1, got 0")
    assert error_of(capsys, ["explain", "neuron", sample, "--layer", "4", "--depth", "8", *out]) == (
        "layer 4 (conv 3×3, 8 filters, pad 1) has 8 depth slices, 0 to 7; there is no depth slice 8")
    assert error_of(capsys, ["explain", "saliency", sample, str(tmp_path / "none.png"), *out]) == (
        f"no image at {tmp_path / 'none.png'}")
    (tmp_path / "shoe.png").write_bytes(b"")
    assert "give a folder" in error_of(capsys, ["explain", "saliency", sample, "--out", str(tmp_path / "shoe.png")])
    assert error_of(capsys, ["explain", "saliency", sample, str(tmp_path / "shoe.png"), "--index", "1", *out]) == (
        "--index has no effect with an IMAGE: it picks a dataset image to use instead; leave it out")
    plain = tmp_path / "plain.npz"
    save_model(plain, build_model("conv3-4 relu pool fc10", (1, 28, 28), seed=0), {"dataset": "sample"},
               SAMPLE_CLASSES)
    assert error_of(capsys, ["explain", "cam", str(plain), *out]).startswith(
        "CAM needs a model that ends in global average pooling and one fully-connected layer")


def test_the_readme_example_runs(models):
    # the Python block of the README's "Why did it say that?" section, on the sample model above
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Why did it say that?"):]
    code = section[section.index("```python") + len("```python"):section.index("```", section.index("```python") + 9)]
    names = {}
    exec(code.replace("runs/fashion/model.npz", str(models["sample"])), names)
    assert names["saliency"].shape == (28, 28) and names["cam"].shape == (14, 14)


def test_the_command_line_and_the_arrays_do_not_wait_for_matplotlib():
    # `volnet --help` and argument errors answer before any figure library loads
    import subprocess
    import sys

    code = ("import sys; from volnet.cli.main import build_parser; import volnet.explain; build_parser(); "
            "print('matplotlib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
