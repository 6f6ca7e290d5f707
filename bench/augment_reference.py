#!/usr/bin/python3
"""The work of bench/augment.ts done the way Keras's ImageDataGenerator.flow_from_directory does it
(keras-preprocessing): PIL load + resize (nearest) to 224, img_to_array, random rotation/shift/shear/
zoom as one scipy.ndimage.affine_transform per channel (order 1, fill 'nearest'), horizontal flip,
PIL brightness, rescale 1/255 (keras/src/legacy/preprocessing/image.py); batches of 32. Prints img/s as JSON on the last line.
Usage: /usr/bin/python3 bench/augment_reference.py DIR [EPOCHS]
"""
import json
import os
import sys
import time

import numpy as np
from PIL import Image, ImageEnhance
from scipy import ndimage


def files_of(root):
    out = []
    for cls in sorted(os.listdir(root)):
        for dirpath, _, names in sorted(os.walk(os.path.join(root, cls)), key=lambda t: t[0]):
            out += [os.path.join(dirpath, n) for n in sorted(names) if n.lower().endswith(('.jpg', '.jpeg', '.png'))]
    return out


def load(path):
    img = Image.open(path)
    img = img.convert('RGB').resize((224, 224), Image.NEAREST)
    return np.asarray(img, dtype='float32')


def affine(x, rng):
    h, w = x.shape[:2]
    theta = np.deg2rad(rng.uniform(-20, 20))
    tx = rng.uniform(-0.1, 0.1) * w
    ty = rng.uniform(-0.1, 0.1) * h
    shear = np.deg2rad(rng.uniform(-0.1, 0.1))
    zx, zy = rng.uniform(0.9, 1.1, 2)
    # Keras 3's apply_affine_transform: built in (x, y), recentred, swapped to (row, col) for scipy.
    m = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    m = m.dot(np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]]))
    m = m.dot(np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]]))
    m = m.dot(np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]]))
    o_x, o_y = w / 2 - 0.5, h / 2 - 0.5
    m = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]]).dot(m).dot(np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]]))
    m[:, [0, 1]] = m[:, [1, 0]]
    m[[0, 1]] = m[[1, 0]]
    chans = [ndimage.affine_transform(x[:, :, k], m[:2, :2], m[:2, 2], order=1, mode='nearest', cval=0.0) for k in range(3)]
    return np.stack(chans, axis=2)


def brightness(x, factor):
    # Keras 3's apply_brightness_shift(x, factor, scale=False) for values already in [0, 255].
    img = ImageEnhance.Brightness(Image.fromarray(x.astype('uint8'), 'RGB')).enhance(factor)
    return np.asarray(img, dtype='float32')


def run(files, augment, epochs, rng):
    n = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(epochs):
        order = rng.permutation(len(files))
        for start in range(0, len(files), 32):
            idx = order[start:start + 32]
            batch = np.zeros((len(idx), 224, 224, 3), dtype='float32')
            for i, j in enumerate(idx):
                x = load(files[j])
                if augment:
                    x = affine(x, rng)
                    if rng.random() < 0.5:
                        x = x[:, ::-1, :]
                    x = brightness(x, rng.uniform(0.8, 1.2))
                batch[i] = x * (1 / 255.0)
            n += len(idx)
    return n / (time.perf_counter() - t0), (time.process_time() - c0) * 1000 / n


def main():
    root = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    files = files_of(root)
    rng = np.random.RandomState(1)
    run(files[:32], True, 1, rng)  # warm-up
    augment, augment_cpu = run(files, True, epochs, rng)
    plain, plain_cpu = run(files, False, epochs, rng)
    print(json.dumps({'augment': augment, 'augmentCpuMs': augment_cpu, 'plain': plain, 'plainCpuMs': plain_cpu}))


if __name__ == '__main__':
    main()
