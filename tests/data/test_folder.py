import numpy as np
import pytest
from PIL import Image

from volnet.data import load_image_folder


def write_png(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def colour_folder(tmp_path):
    # Two classes of 6×8 RGB images; "dog" sorts after "cat" and gets label 1.
    rng = np.random.default_rng(4)
    pixels = {name: rng.integers(0, 256, (6, 8, 3), dtype=np.uint8) for name in ("cat/a.png", "cat/b.png", "dog/c.png")}
    for name, value in pixels.items():
        write_png(tmp_path / "pets" / name, value)
    (tmp_path / "pets" / "dog" / "notes.txt").write_text("not an image, skipped")
    return tmp_path / "pets", pixels


def test_reads_classes_from_sorted_subfolders(colour_folder):
    root, pixels = colour_folder
    data = load_image_folder(root)
    assert data.class_names == ["cat", "dog"] and data.labels.tolist() == [0, 0, 1]
    assert data.images.shape == (3, 3, 6, 8) and data.name == "pets"
    np.testing.assert_array_equal(data.images[2], pixels["dog/c.png"].transpose(2, 0, 1))


def test_converts_to_one_size_and_channel_count(colour_folder):
    root, pixels = colour_folder
    write_png(root / "dog" / "d.png", np.full((12, 4), 200, np.uint8))  # grayscale, another size
    data = load_image_folder(root, size=(3, 5), channels=1)
    assert data.images.shape == (4, 1, 3, 5)
    gray = np.asarray(Image.fromarray(pixels["cat/a.png"]).convert("L").resize((5, 3), Image.BILINEAR))
    np.testing.assert_array_equal(data.images[0, 0], gray)
    assert np.all(data.images[3] == 200)


def test_channels_default_from_the_first_image(tmp_path):
    write_png(tmp_path / "a" / "1.png", np.zeros((4, 4), np.uint8))
    write_png(tmp_path / "b" / "2.png", np.zeros((4, 4, 3), np.uint8))
    assert load_image_folder(tmp_path).images.shape == (2, 1, 4, 4)
    assert load_image_folder(tmp_path, size=2, channels=3).images.shape == (2, 3, 2, 2)


def test_unreadable_file_is_named(colour_folder):
    root, _ = colour_folder
    (root / "cat" / "broken.png").write_bytes(b"not really a png")
    with pytest.raises(ValueError, match=r"cat/broken.png: Pillow cannot read this file"):
        load_image_folder(root)
    # A file whose header is fine but whose pixels are cut off fails only when decoded.
    content = (root / "cat" / "a.png").read_bytes()
    (root / "cat" / "broken.png").write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match=r"cat/broken.png: Pillow cannot decode this image"):
        load_image_folder(root)


def test_no_subfolders_and_empty_class(tmp_path):
    write_png(tmp_path / "loose.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match=r"no class sub-folders; a classifier needs at least 2 classes, one sub-fold"):
        load_image_folder(tmp_path)
    write_png(tmp_path / "dog" / "1.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match=r"only one class sub-folder, 'dog'; a classifier needs at least 2 classes"):
        load_image_folder(tmp_path)
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "readme.txt").write_text("")
    with pytest.raises(ValueError, match=r"cat: class 'cat' has no image files"):
        load_image_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"nowhere: no such folder"):
        load_image_folder(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"channels must be 1 \(grayscale\) or 3 \(RGB\), got 4"):
        load_image_folder(tmp_path, channels=4)
