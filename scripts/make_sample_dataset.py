#!/usr/bin/python3
"""Writes tlkit's embedded sample: a two-class subset of Fashion-MNIST as PNG files.

Source: Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist), which installs the
original idx files under /usr/share/datasets/fashion-mnist. Fashion-MNIST is (c) Zalando SE, MIT licence.

Run from the repository root:  /usr/bin/python3 scripts/make_sample_dataset.py
Output: samples/fashion-shoes/{train,test}/{sandal,sneaker}/NNNNN.png (28x28 grayscale, as published),
with the first TRAIN_PER_CLASS training images and the first TEST_PER_CLASS test images of each class.
"""
import gzip
import os
import shutil

import numpy as np
from PIL import Image

SOURCE = "/usr/share/datasets/fashion-mnist"
OUT = os.path.join("samples", "fashion-shoes")
CLASSES = {5: "sandal", 7: "sneaker"}  # Fashion-MNIST label ids
TRAIN_PER_CLASS = 200
TEST_PER_CLASS = 100


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_split(images, labels, split, per_class):
    for label, name in CLASSES.items():
        folder = os.path.join(OUT, split, name)
        os.makedirs(folder, exist_ok=True)
        indices = np.flatnonzero(labels == label)[:per_class]
        for index in indices:
            Image.fromarray(images[index], mode="L").save(os.path.join(folder, f"{index:05d}.png"), optimize=True)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    write_split(read_idx(f"{SOURCE}/train-images-idx3-ubyte.gz"), read_idx(f"{SOURCE}/train-labels-idx1-ubyte.gz"), "train", TRAIN_PER_CLASS)
    write_split(read_idx(f"{SOURCE}/t10k-images-idx3-ubyte.gz"), read_idx(f"{SOURCE}/t10k-labels-idx1-ubyte.gz"), "test", TEST_PER_CLASS)
    with open(os.path.join(OUT, "LICENSE.md"), "w") as f:
        f.write(
            "# fashion-shoes sample\n\n"
            "A two-class subset (sandal, sneaker) of Fashion-MNIST, written by scripts/make_sample_dataset.py\n"
            "from Debian's dataset-fashion-mnist. Fashion-MNIST: Copyright (c) 2017 Zalando SE, MIT licence\n"
            "(https://github.com/zalandoresearch/fashion-mnist). 28x28 grayscale PNG, as published.\n"
        )


if __name__ == "__main__":
    main()
