"""Where dataset files come from, and load_dataset, the one call that finds and reads them.

For a named dataset ("mnist", "fashion-mnist", "cifar10") the folders searched, in order, are
    1. data_dir, when given: the folder that holds the files;
    2. $VOLNET_DATA/<name>, when $VOLNET_DATA is set;
    3. the cache, $XDG_CACHE_HOME/volnet/<name> (by default ~/.cache/volnet/<name>);
    4. system folders: /usr/share/datasets/fashion-mnist for Fashion-MNIST (the Debian
       package dataset-fashion-mnist).
download=True fetches what is missing into the first of these folders from the official
address, checking each file against its published MD5. "sample" is the small Fashion-MNIST
sample inside volnet (volnet/data/sample), always there; any other name is taken as the path
of an image folder (volnet.data.folder).
"""

from __future__ import annotations

import http.client
import os
import shutil
import tarfile
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from volnet.data.cifar10 import binary_files, load_cifar10_binary, load_cifar10_python, python_files
from volnet.data.dataset import Dataset
from volnet.data.download import download as download_file
from volnet.data.folder import load_image_folder
from volnet.data.idx import load_idx

SPLITS = ("train", "test")
SAMPLE_DIR = Path(__file__).parent / "sample"
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def mnist_files(split: str) -> tuple[str, str]:
    """The image and label files of a split, named as MNIST and Fashion-MNIST publish them."""
    prefix = {"train": "train", "test": "t10k"}[split]
    return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def locate(folder: Path, file: str) -> Path | None:
    """folder/file if it exists; for a .gz name, also the unpacked file; else None."""
    for candidate in (file, file.removesuffix(".gz")):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def load_idx_split(folder: Path, split: str, class_names, name: str) -> Dataset:
    """A split of an MNIST-style dataset from folder (files named as mnist_files gives them),
    named "<name>/<split>"."""
    paths = [locate(folder, file) for file in mnist_files(split)]
    for path, file in zip(paths, mnist_files(split), strict=True):
        if path is None:
            raise FileNotFoundError(f"{folder}: no {file} (nor {file.removesuffix('.gz')}) for the {split} split.")
    return load_idx(*paths, class_names, f"{name}/{split}")


@dataclass(frozen=True)
class Layout:
    """One way a dataset's files sit in a folder, and how to read them."""

    subfolder: str  # "" for the folder itself
    files: Callable[[str], tuple[str, ...]]  # split -> the file names it needs
    read: Callable[[Path, str], Dataset]  # (folder, split) -> Dataset


@dataclass(frozen=True)
class Source:
    """A published dataset: its layouts (tried in order), downloads and install hints."""

    title: str
    layouts: tuple[Layout, ...]
    downloads: tuple[tuple[str, str], ...]  # (url, md5) pairs fetched by download=True
    system_folders: tuple[Path, ...] = ()
    install_hint: str = ""


def _idx_source(name: str, title: str, base_url: str, md5s: dict[str, str], class_names, **hints) -> Source:
    read = partial(load_idx_split, class_names=class_names, name=name)
    downloads = tuple((base_url + file, md5) for file, md5 in md5s.items())
    return Source(title, (Layout("", mnist_files, read),), downloads, **hints)


# MD5 checksums as published with the files (and listed by torchvision's datasets/mnist.py and cifar.py).
SOURCES = {
    "mnist": _idx_source(
        "mnist", "MNIST", "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        MNIST_CLASSES,
    ),
    "fashion-mnist": _idx_source(
        "fashion-mnist", "Fashion-MNIST", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        FASHION_MNIST_CLASSES,
        system_folders=(DEBIAN_FASHION_MNIST_DIR,),
        install_hint="install Debian's copy: sudo apt-get install dataset-fashion-mnist",
    ),
    "cifar10": Source(
        "CIFAR-10",
        (
            Layout("cifar-10-batches-py", python_files, load_cifar10_python),
            Layout("cifar-10-batches-bin", binary_files, load_cifar10_binary),
        ),
        (("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
    ),
}


DATASETS = (*SOURCES, "sample")


def search_folders(name: str, data_dir=None) -> list[Path]:
    """The folders searched for dataset `name`, in order (see the module docstring)."""
    folders = [Path(data_dir).expanduser()] if data_dir is not None else []
    if os.environ.get("VOLNET_DATA"):
        folders.append(Path(os.environ["VOLNET_DATA"]).expanduser() / name)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folders.append(cache / "volnet" / name)
    return folders + list(SOURCES[name].system_folders if name in SOURCES else ())


def load_dataset(name: str, split: str = "train", data_dir=None, download: bool = False) -> Dataset:
    """Find, (optionally) download and read a dataset split.

    Args:
        name: "mnist", "fashion-mnist", "cifar10", "sample" (10,000 training and 2,000 test
            images of Fashion-MNIST shipped with volnet; data_dir and download do not
            apply), or the path of an image folder (one sub-folder per class; with train/
            and test/ sub-folders, split picks one; write ./mnist for a folder so named).
        split: "train" or "test".
        data_dir: a folder to look in first (and to download into).
        download: fetch missing files from the official address, checking their MD5.

    Returns:
        a Dataset: images (N, D, H, W) uint8, e.g. (60000, 1, 28, 28) for
        load_dataset("fashion-mnist") and (50000, 3, 32, 32) for load_dataset("cifar10").

    Raises:
        ValueError: an unknown name or split; a file that fails its checksum or format checks.
        FileNotFoundError: the files are nowhere to be found; the message says which files
            to put where, and how to download or install them.
        ConnectionError: download=True, but the files could not be fetched.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    if name == "sample":
        return load_idx_split(SAMPLE_DIR, split, FASHION_MNIST_CLASSES, "sample")
    if name not in SOURCES:
        if Path(name).expanduser().is_dir():
            return _load_folder_split(Path(name).expanduser(), split)
        raise ValueError(
            f"unknown dataset {name!r}: expected one of {', '.join(map(repr, DATASETS))} "
            "or the path of an existing image folder (one sub-folder per class)."
        )
    source, folders = SOURCES[name], search_folders(name, data_dir)
    found = _find(source, folders, split)
    if found is None and download:
        _fetch(name, source, folders, split)
        found = _find(source, folders[:1], split)
    if found is None:
        raise FileNotFoundError(_missing_message(name, source, folders, split))
    layout, folder = found
    return layout.read(folder, split)


def present(name: str, data_dir=None) -> bool:
    """Whether load_dataset(name, "train", data_dir) would find its files without downloading."""
    return name == "sample" or (name in SOURCES and _find(SOURCES[name], search_folders(name, data_dir), "train")
                                is not None)


def _find(source: Source, folders: list[Path], split: str) -> tuple[Layout, Path] | None:
    """The first layout whose files for `split` are all present, and where; a downloaded
    archive that is present but not yet unpacked is unpacked first."""
    for folder in folders:
        for archive in _archives(source):
            if (folder / archive).is_file() and not any(_complete(folder, layout, split) for layout in source.layouts):
                _unpack(folder / archive, folder)
        for layout in source.layouts:
            if _complete(folder, layout, split):
                return layout, folder / layout.subfolder
    return None


def _complete(folder: Path, layout: Layout, split: str) -> bool:
    return all(locate(folder / layout.subfolder, file) for file in layout.files(split))


def _archives(source: Source) -> list[str]:
    return [url.rsplit("/", 1)[1] for url, _ in source.downloads if url.endswith(".tar.gz")]


def _fetch(name: str, source: Source, folders: list[Path], split: str) -> None:
    """Download every file of `source` missing from folders[0]."""
    for url, md5 in source.downloads:
        file = url.rsplit("/", 1)[1]
        if locate(folders[0], file) is None:
            try:
                download_file(url, folders[0] / file, md5)
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as error:
                raise ConnectionError(
                    f"could not download {url} ({error}).\n" + _missing_message(name, source, folders, split)
                ) from None


def _unpack(archive: Path, folder: Path) -> None:
    """Extract the regular files of a .tar.gz into folder, refusing paths that leave it."""
    root = folder.resolve()
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            target = (root / member.name).resolve()
            if not target.is_relative_to(root):
                raise ValueError(f"{archive}: refusing to extract {member.name!r}, which lies outside {folder}.")
            if member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as packed, open(target, "wb") as unpacked:
                    shutil.copyfileobj(packed, unpacked)


def _missing_message(name: str, source: Source, folders: list[Path], split: str) -> str:
    wanted = [
        f"{layout.subfolder}/ holding {', '.join(files)}" if layout.subfolder else "\n  ".join(files)
        for layout, files in ((layout, layout.files(split)) for layout in source.layouts)
    ] + [f"{archive} (volnet unpacks it)" for archive in _archives(source)]
    urls = [url for url, _ in source.downloads]
    address = urls[0] if len(urls) == 1 else urls[0].rsplit("/", 1)[0] + "/"
    remedies = [
        f"download them: load_dataset({name!r}, download=True), or --download on the command line",
        *([source.install_hint] if source.install_hint else []),
        f"fetch them from {address} and put them in {folders[0]}\n"
        f"    (or in a folder you pass as data_dir=..., or in $VOLNET_DATA/{name})",
    ]
    return (
        f"{source.title} ({split} split) was not found. volnet looked in\n"
        + "".join(f"  {folder}\n" for folder in folders)
        + ("for any one of\n" if len(wanted) > 1 else "for\n")
        + "".join(f"  {entry}\n" for entry in wanted)
        + "To fix it, either\n"
        + "\n".join(f"  - {remedy}" for remedy in remedies)
    )


def image_folder_split(path: Path, split: str) -> Path | None:
    """Where split `split` of the image folder at path is: path/train and path/test when both
    exist, else path itself, which is then a training split only (None for "test")."""
    if (path / "train").is_dir() and (path / "test").is_dir():
        return path / split
    return path if split == "train" else None


def _load_folder_split(path: Path, split: str) -> Dataset:
    """An image folder's split (see image_folder_split)."""
    folder = image_folder_split(path, split)
    if folder is None:
        raise ValueError(
            f"{path} has no train/ and test/ sub-folders, so it holds one split only: load it with split='train' "
            "and hold out validation examples with Dataset.split(fraction, rng)."
        )
    return load_image_folder(folder, name=path.name if folder == path else f"{path.name}/{split}")
