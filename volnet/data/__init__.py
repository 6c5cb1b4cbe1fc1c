"""Datasets for image classification: formats, where the files come from, batches, augmentation.

    formats      idx (MNIST, Fashion-MNIST), cifar10 (binary and Python batches), folder (images by class)
    dataset      Dataset: images (N, D, H, W) uint8, labels (N,) int64, class names
    sources      load_dataset(name, split): search folders, downloads with checksums, the embedded sample
    batching     iterate_batches, channel_stats, Normalization
    augment      random crop (a random translation), flips, Augmentation
"""

from volnet.data.augment import Augmentation, flip_horizontal, random_crop, random_flip, translate
from volnet.data.batching import Normalization, channel_stats, iterate_batches, scaled_batch
from volnet.data.cifar10 import load_cifar10_binary, load_cifar10_python
from volnet.data.dataset import Dataset
from volnet.data.folder import load_image_folder
from volnet.data.idx import load_idx, read_idx, write_idx
from volnet.data.sources import DATASETS, FASHION_MNIST_CLASSES, load_dataset, search_folders

__all__ = [
    "Augmentation", "DATASETS", "Dataset", "FASHION_MNIST_CLASSES", "Normalization", "channel_stats",
    "flip_horizontal", "iterate_batches", "load_cifar10_binary", "load_cifar10_python", "load_dataset", "load_idx",
    "load_image_folder", "random_crop", "random_flip", "read_idx", "scaled_batch", "search_folders", "translate",
    "write_idx",
]
