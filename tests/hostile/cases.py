# Hostile inputs, run in a child process under a memory cap (see conftest.run_capped):
#     python tests/hostile/cases.py SUITE FOLDER
# prints one JSON line per case: {"case", "type", "message"} of what volnet raised (type "none"
# when it returned). The tests compare these with the messages volnet must give.

import gzip
import io
import json
import pickle
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

from volnet.data.cifar10 import load_cifar10_python
from volnet.data.folder import load_image_folder
from volnet.data.idx import read_idx
from volnet.models import build_model, load_model
from volnet.npz import META_ENTRY, write_npz_atomic

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:
    from numpy.core.multiarray import _reconstruct

SUITES = {}


def case(suite):
    def register(function):
        SUITES.setdefault(suite, []).append(function)
        return function
    return register


def idx_header(*shape, dims=None):
    return bytes([0, 0, 8, dims or len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


@case("sizes")
def idx_raw_promising_2_gib(folder):
    (folder / "images").write_bytes(idx_header(2**31 - 1, 28, 28) + bytes(100))
    read_idx(folder / "images", ndim=3)


@case("sizes")
def idx_gz_promising_600_mib(folder):
    (folder / "images.gz").write_bytes(gzip.compress(idx_header(800_000, 28, 28) + bytes(1000)))
    read_idx(folder / "images.gz", ndim=3)


@case("sizes")
def idx_gz_promising_more_than_the_budget(folder):
    (folder / "labels.gz").write_bytes(gzip.compress(idx_header(2**32 - 1, 2**32 - 1, 2**32 - 1, dims=3)))
    read_idx(folder / "labels.gz", ndim=3)


def model_meta(architecture, input_shape=(1, 28, 28)):
    return {"architecture": architecture, "input_shape": list(input_shape), "dtype": "float32",
            "class_names": None, "metadata": {}}


def sequential(*layers):
    return {"type": "Sequential", "layers": list(layers)}


@case("sizes")
def model_with_50_million_filters(folder):
    conv = {"type": "Conv2D", "config": {"filters": 50_000_000, "size": 3, "pad": "same"}}
    write_npz_atomic(folder / "m.npz", {}, model_meta(sequential(conv)), kind="model")
    load_model(folder / "m.npz")


@case("sizes")
def model_with_a_billion_units(folder):
    fc = {"type": "Linear", "config": {"units": 1_000_000_000}}
    write_npz_atomic(folder / "m.npz", {}, model_meta(sequential({"type": "Flatten", "config": {}}, fc)), kind="model")
    load_model(folder / "m.npz")


@case("sizes")
def model_with_a_billion_units_and_their_inputs_declared(folder):
    # in_features (and a conv's in_depth) would make the weights when the layer is made, before any budget check
    fc = {"type": "Linear", "config": {"units": 1_000_000_000, "in_features": 784}}
    conv = {"type": "Conv2D", "config": {"filters": 50_000_000, "size": 3, "pad": "same", "in_depth": 1}}
    write_npz_atomic(folder / "m.npz", {}, model_meta(sequential(conv, {"type": "Flatten", "config": {}}, fc)),
                     kind="model")
    load_model(folder / "m.npz")


@case("sizes")
def model_with_20000_layers(folder):
    relus = [{"type": "ReLU", "config": {}}] * 20_000
    write_npz_atomic(folder / "m.npz", {}, model_meta(sequential(*relus)), kind="model")
    load_model(folder / "m.npz")


def zip_of(path, entries, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compress) as archive:
        for name, content in entries.items():
            archive.writestr(f"{name}.npy", content)


def npy(array=None, header=None, data=b""):
    buffer = io.BytesIO()
    if array is not None:
        np.lib.format.write_array(buffer, array)
    else:
        np.lib.format.write_array_header_1_0(buffer, header)
        buffer.write(data)
    return buffer.getvalue()


@case("sizes")
def model_json_nested_100000_deep(folder):
    text = "[" * 100_000 + "]" * 100_000
    zip_of(folder / "m.npz", {META_ENTRY: npy(np.frombuffer(text.encode(), np.uint8))})
    load_model(folder / "m.npz")


@case("sizes")
def npy_header_promising_40_gb(folder):
    meta = npy(np.frombuffer(b"{}", np.uint8))
    big = npy(header={"descr": "<f4", "fortran_order": False, "shape": (10**10,)}, data=bytes(16))
    zip_of(folder / "m.npz", {META_ENTRY: meta, "0.weight": big})
    load_model(folder / "m.npz")


@case("sizes")
def npz_entry_compressed_200_times(folder):
    meta = npy(np.frombuffer(b"{}", np.uint8))
    zip_of(folder / "m.npz", {META_ENTRY: meta, "0.weight": npy(np.zeros(2**23, np.float32))}, zipfile.ZIP_DEFLATED)
    load_model(folder / "m.npz")


class _Claim:
    """Pickles as an ndarray that claims (10⁹, 3072) uint8 pixels and carries 10 bytes."""

    def __reduce__(self):
        return _reconstruct, (np.ndarray, (0,), b"b"), (1, (10**9, 3072), np.dtype(np.uint8), False, bytes(10))


def cifar_folder(folder, batch_bytes):
    (folder / "test_batch").write_bytes(batch_bytes)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"a", b"b"]}, protocol=2))
    return folder


@case("sizes")
def cifar_pickle_bytes_promising_a_tebibyte(folder):
    # BINBYTES8 with a length of 2**40, then 3 bytes
    cifar_folder(folder, b"\x80\x04\x8e" + (2**40).to_bytes(8, "little") + b"abc")
    load_cifar10_python(folder, "test")


@case("sizes")
def cifar_labels_sharing_lists_10_to_the_30(folder):
    labels = [0] * 10
    for _ in range(30):
        labels = [labels] * 10  # 10**30 numbers once expanded, a few hundred bytes pickled
    batch = {b"data": np.zeros((10, 3072), np.uint8), b"labels": labels}
    cifar_folder(folder, pickle.dumps(batch, protocol=2))
    load_cifar10_python(folder, "test")


@case("sizes")
def cifar_array_claiming_3_tb(folder):
    cifar_folder(folder, pickle.dumps({b"data": _Claim(), b"labels": [0]}, protocol=2))
    load_cifar10_python(folder, "test")


def png(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@case("sizes")
def png_declaring_10_gigapixels(folder):
    for name in ("cat", "dog"):
        (folder / "images" / name).mkdir(parents=True)
        (folder / "images" / name / "1.png").write_bytes(png(100_000, 100_000))
    load_image_folder(folder / "images")


@case("sizes")
def architecture_repeated_a_billion_times(folder):
    build_model("[conv3-8 relu]*1000000000 fc10", input_shape=(1, 28, 28))


@case("sizes")
def architecture_nested_5000_deep(folder):
    build_model("[" * 5000 + "relu" + "]" * 5000 + " fc10", input_shape=(1, 28, 28))


@case("sizes")
def architecture_of_20000_words(folder):
    build_model("relu " * 20_000 + "fc10", input_shape=(1, 28, 28))


@case("sizes")
def architecture_fc_a_trillion(folder):
    build_model("fc1000000000000", input_shape=(1, 28, 28))


@case("sizes")
def architecture_conv_100_million_filters(folder):
    build_model("conv3-100000000 fc10", input_shape=(1, 28, 28))


@case("sizes")
def architecture_number_of_5000_digits(folder):
    build_model("fc" + "9" * 5000, input_shape=(1, 28, 28))


def main():
    suite, folder = sys.argv[1], Path(sys.argv[2])
    for function in SUITES[suite]:
        here = folder / function.__name__
        here.mkdir()
        try:
            function(here)
            row = {"type": "none", "message": ""}
        except Exception as error:  # the test judges which types are right
            row = {"type": type(error).__name__, "message": str(error).replace(str(here), "DIR")}
        print(json.dumps({"case": function.__name__, **row}), flush=True)


if __name__ == "__main__":
    main()
