"""What several subcommands share: checks of their flags, --input-shape, SPEC arguments, output
paths and dataset splits, all with messages that name the flags (a library SettingError names
its setting, and volnet.cli.main shows it as the flag: volnet.errors.flag).

Not a subcommand: volnet.cli.main skips the modules whose names start with "_".
"""

from __future__ import annotations

import os
from pathlib import Path

from volnet.errors import check_settings, flag

STRING_INPUT_SHAPE = (1, 28, 28)  # the input of an architecture string given without --input-shape
NAME_MAX = 255  # the longest file name, in bytes, of Linux, macOS and Windows file systems


def run_checked(rules: dict, run, args) -> int:
    """run(args) once the flags among `rules` that this command has, and --out, are known to be
    valid: what `volnet show` and `volnet explain` do before drawing anything."""
    check_settings(args, **{name: rule for name, rule in rules.items() if hasattr(args, name)})
    writable_folder(args.out, "out")
    return run(args)


def refuse_ignored(args, why: str, *names) -> None:
    """Raise ValueError if any flag among `names` was given (is not None or False) where it would have
    no effect; `why` completes "--x has no effect ...", e.g. "with --no-pictures: it is where they go"."""
    given = [flag(name) for name in names if getattr(args, name) not in (None, False)]
    if given:
        raise ValueError(f"{' and '.join(given)} {'has' if len(given) == 1 else 'have'} no effect {why}; "
                         f"leave {'it' if len(given) == 1 else 'them'} out")


def input_shape(text: str) -> tuple[int, ...]:
    """--input-shape "D,H,W" (× and x also separate the numbers), or "D" for a vector, e.g. "3,32,32".

    Raises:
        ValueError: not whole numbers, a size below 1, or the depth written last (H,W,D).
    """
    try:
        shape = tuple(int(part) for part in text.replace("×", ",").replace("x", ",").split(","))
    except ValueError:
        raise ValueError(f"--input-shape wants whole numbers D,H,W such as 3,32,32; got {text!r}") from None
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise ValueError(f"--input-shape wants positive sizes D,H,W (or D alone for vectors) such as 3,32,32; "
                         f"got {text!r}")
    depth, height, width = shape if len(shape) == 3 else (None, None, None)
    if width in (1, 3) and depth == height > 3:
        raise ValueError(f"--input-shape {text} reads as D={depth}, H={height}, W={width}; volnet writes the depth "
                         f"first (D,H,W): did you mean {width},{depth},{height}?")
    return shape


def model_from_spec(spec: str, shape=None):
    """The model SPEC names, and a title for it, as `volnet summary` and `volnet show model` take it.

    SPEC is a preset (built for its own input, or for shape), a saved model (a .npz file or a
    run folder; shape is then left to the caller) or an architecture string (built for shape,
    by default STRING_INPUT_SHAPE).
    """
    from volnet.models import PRESETS, build_model, load_model
    from volnet.run_folder import model_file

    if spec.strip().lower() in PRESETS:
        return build_model(spec, input_shape=shape), spec.strip().lower()
    if spec.endswith(".npz") or names_a_path(spec):
        model = load_model(model_file(spec))[0]  # any saved model, classifier or not
        return model, str(model.loaded_from)
    return build_model(spec, input_shape=shape or STRING_INPUT_SHAPE), spec


def names_a_path(text: str) -> bool:
    """Whether text names an existing file or folder. A text that no file system could take as
    a path — a part over 255 bytes, such as a long architecture string, or a NUL — is not
    looked up at all, so it never fails as "File name too long"."""
    parts = text.split(os.sep)
    if "\0" in text or any(len(os.fsencode(part)) > NAME_MAX for part in parts):
        return False
    try:
        return Path(text).exists()
    except OSError:  # e.g. a path longer than PATH_MAX in all
        return False


def writable_folder(path, name: str) -> Path:
    """Check, before any slow work, that the folder given by flag `name` exists or can be made, and can be written.

    Raises:
        ValueError: it is a file, it lies below a file, or it cannot be written.
    """
    path = Path(path)
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    if not existing.is_dir():
        where = "is a file" if existing == path else f"lies inside {existing}, which is a file"
        raise ValueError(f"{flag(name)} {path} {where}; give a folder (volnet creates it if missing)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{flag(name)} {path}: no permission to write into {existing}; give a folder you can write to")
    return path


def writable_file(path, name: str) -> Path:
    """Check, before any slow work, that the file given by flag `name` can be written: its folder
    exists and can be written, and it is not itself a folder.

    Raises:
        ValueError: as the message says.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag(name)} {path} is a folder; give a file name, such as {path / 'metrics.json'}")
    folder = path.parent
    if not folder.is_dir():
        problem = f"{folder} is a file, not a folder" if folder.exists() else f"the folder {folder} does not exist"
        raise ValueError(f"{flag(name)} {path}: {problem}; give a file in an existing folder")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"{flag(name)} {path}: no permission to write it; give a path you can write to")
    return path


def image_folder(dataset: str, split: str) -> Path | None:
    """The folder that split `split` of an image-folder dataset is read from
    (volnet.data.sources.image_folder_split, the rule load_dataset follows). None for a named
    dataset (or no such folder, which load_dataset reports).

    Raises:
        ValueError: split "test" of a folder that holds a training split only (the message names --split).
    """
    from volnet.data import DATASETS
    from volnet.data.sources import image_folder_split

    root = Path(dataset).expanduser()
    if dataset in DATASETS or not root.is_dir():
        return None
    folder = image_folder_split(root, split)
    if folder is None:
        raise ValueError(f"the image folder {root} has no train/ and test/ sub-folders, so it is one training split; "
                         "add --split train to use it")
    return folder


def check_data_flags(args, dataset: str) -> None:
    """Refuse --data-dir and --download for the embedded sample and for image folders, which they would not change."""
    from volnet.data.sources import SOURCES

    if dataset not in SOURCES:
        what = "the embedded sample" if dataset == "sample" else f"the image folder {dataset}"
        refuse_ignored(args, f"on {what}, which is neither looked for in a folder nor downloaded (only "
                             f"{', '.join(SOURCES)} are)",
                       *(name for name in ("data_dir", "download") if hasattr(args, name)))


def load_split(args, dataset: str, split: str, class_names=None):
    """The dataset split for eval and predict, after check_data_flags and image_folder's --split check,
    its labels renumbered to class_names (a model's, when it saved them; Dataset.in_class_order)."""
    from volnet.data import load_dataset

    check_data_flags(args, dataset)
    image_folder(dataset, split)
    loaded = load_dataset(dataset, split, args.data_dir, getattr(args, "download", False))
    return loaded if class_names is None else loaded.in_class_order(class_names)
