#!/usr/bin/python3
"""Writes photo-like JPEGs of a hard two-class pair for bench/recipe.ts: Fashion-MNIST pullovers vs coats
(Debian's dataset-fashion-mnist, MIT), upscaled from 28x28 to 320x320 (bicubic), each tinted with a random
colour (the same distribution for both classes, so colour says nothing), with sensor-like noise, as
JPEG quality 90. No network.

Usage: /usr/bin/python3 scripts/make_recipe_images.py OUT_DIR [--images 1000] [--size 320] [--seed 1]
Output: OUT_DIR/{coat,pullover}/NNNNN.jpg, half the images per class.
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

SOURCE = "/usr/share/datasets/fashion-mnist"
CLASSES = {2: "pullover", 4: "coat"}  # Fashion-MNIST label ids


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = int.from_bytes(data[0:4], "big") & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    rng = np.random.RandomState(args.seed)
    images = read_idx(f"{SOURCE}/train-images-idx3-ubyte.gz")
    labels = read_idx(f"{SOURCE}/train-labels-idx1-ubyte.gz")
    for label, name in CLASSES.items():
        folder = os.path.join(args.out, name)
        os.makedirs(folder, exist_ok=True)
        for index in np.flatnonzero(labels == label)[: args.images // 2]:
            gray = np.asarray(Image.fromarray(images[index], mode="L").resize((args.size, args.size), Image.BICUBIC), dtype=np.float32) / 255
            garment = rng.uniform(40, 255, size=3)
            background = rng.uniform(0, 90, size=3)
            rgb = background + gray[..., None] * (garment - background)
            rgb += rng.normal(0, 6, size=rgb.shape)
            Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB").save(os.path.join(folder, f"{index:05d}.jpg"), quality=90)


if __name__ == "__main__":
    main()
