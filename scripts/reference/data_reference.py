#!/usr/bin/python3
"""Reference values for tlkit's data kernels (test/data/*.test.ts), computed the way Keras's
ImageDataGenerator computes them (keras/src/legacy/preprocessing/image.py, Keras 3), with Debian's
python3-numpy, python3-scipy and python3-pil. Keras itself is not needed: the few Keras formulas are
restated below. Keras's apply_affine_transform builds its matrix in (x, y) and swaps it to (row, col)
for scipy, so tx / zx act on columns and ty / zy on rows; the one deliberate difference is the centre:
((w-1)/2, (h-1)/2) in (x, y), where Keras puts (h-1)/2 on x (equal for square images only).

Run:  /usr/bin/python3 scripts/reference/data_reference.py
Writes: test/fixtures/data/reference.json
"""
import json
import os

import numpy as np
import scipy
from PIL import Image, ImageEnhance
from scipy import ndimage

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'data', 'reference.json')
rng = np.random.RandomState(1234)


def flat(a):
    # 8 significant digits: float32 precision, and a small file.
    return [float('%.8g' % v) for v in np.asarray(a, dtype=np.float64).ravel()]


def affine_matrix(theta, tx, ty, shear, zx, zy, h, w):
    """Keras's apply_affine_transform matrix in (x, y), recentred, then swapped to (row, col)."""
    m = None
    if theta != 0:
        t = np.deg2rad(theta)
        m = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    if tx != 0 or ty != 0:
        s = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
        m = s if m is None else np.dot(m, s)
    if shear != 0:
        sh = np.deg2rad(shear)
        s = np.array([[1, -np.sin(sh), 0], [0, np.cos(sh), 0], [0, 0, 1]])
        m = s if m is None else np.dot(m, s)
    if zx != 1 or zy != 1:
        z = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
        m = z if m is None else np.dot(m, z)
    o_x = float(w) / 2 - 0.5
    o_y = float(h) / 2 - 0.5
    offset = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    m = np.dot(np.dot(offset, m), reset)
    m[:, [0, 1]] = m[:, [1, 0]]
    m[[0, 1]] = m[[1, 0]]
    return m


def apply_affine(x, params, order, mode, cval):
    h, w = x.shape[0], x.shape[1]
    m = affine_matrix(params['theta'], params['tx'], params['ty'], params['shear'], params['zx'], params['zy'], h, w)
    channels = [ndimage.affine_transform(x[:, :, k], m[:2, :2], m[:2, 2], order=order, mode=mode, cval=cval) for k in range(x.shape[2])]
    return np.stack(channels, axis=2)


def channel_shift(x, intensity):
    lo, hi = np.min(x), np.max(x)
    return np.stack([np.clip(x[:, :, k] + intensity, lo, hi) for k in range(x.shape[2])], axis=2)


def array_to_img(x, scale):
    """keras.src.utils.image_utils.array_to_img for channels_last float32 data."""
    x = np.asarray(x, dtype='float32').copy()
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    c = x.shape[2]
    if c == 4:
        return Image.fromarray(x.astype('uint8'), 'RGBA')
    if c == 3:
        return Image.fromarray(x.astype('uint8'), 'RGB')
    return Image.fromarray(x[:, :, 0].astype('uint8'), 'L')


def brightness(x, factor, scale=False):
    """Keras's apply_brightness_shift(x, brightness, scale); apply_transform passes scale=False."""
    x = np.asarray(x, dtype='float32')
    x_min, x_max = np.min(x), np.max(x)
    local_scale = (x_min < 0) or (x_max > 255)
    img = array_to_img(x, local_scale or scale)
    img = ImageEnhance.Brightness(img).enhance(factor)
    a = np.asarray(img, dtype='float32')
    a = a if a.ndim == 3 else a[:, :, None]
    if not scale and local_scale:
        a = a / 255 * (x_max - x_min) + x_min
    return a


def main():
    h, w, c = 7, 9, 3
    img = (rng.rand(h, w, c) * 255).astype('float32')
    affine_cases = []
    param_sets = [
        dict(theta=17.0, tx=0, ty=0, shear=0, zx=1, zy=1),
        dict(theta=0, tx=1.7, ty=-2.3, shear=0, zx=1, zy=1),
        dict(theta=0, tx=0, ty=0, shear=12.0, zx=1, zy=1),
        dict(theta=0, tx=0, ty=0, shear=0, zx=0.8, zy=1.25),
        dict(theta=-33.0, tx=-1.2, ty=2.6, shear=-8.0, zx=1.15, zy=0.9),
        dict(theta=0, tx=4.5, ty=0, shear=0, zx=1, zy=1),
        dict(theta=0, tx=0, ty=-9.5, shear=0, zx=1, zy=1),
        dict(theta=0, tx=0, ty=0, shear=0, zx=2.7, zy=3.1),
    ]
    for p in param_sets:
        for mode in ['constant', 'nearest', 'reflect', 'wrap']:
            for order in [0, 1]:
                out = apply_affine(img, p, order, mode, 37.0)
                affine_cases.append(dict(params=p, fillMode=mode, order=order, cval=37.0, output=flat(out)))

    shift_out = channel_shift(img, 41.5)
    gray = (rng.rand(5, 6, 1) * 200 + 20).astype('float32')
    rgba = (rng.rand(5, 6, 4) * 255).astype('float32')
    wide = (rng.rand(4, 5, 3) * 400 - 60).astype('float32')  # outside [0, 255]: Keras's local scale
    brightness_cases = []
    for name, x in [('rgb', img), ('gray', gray), ('rgba', rgba), ('wide', wide)]:
        for f in [0.65, 1.0, 1.37]:
            brightness_cases.append(dict(name=name, shape=list(x.shape), input=flat(x), factor=f, output=flat(brightness(x, f))))

    # standardize pieces (Keras's formulas, float32 arrays)
    x = img.copy()
    sw = x - np.mean(x, keepdims=True)
    sw = sw / (np.std(sw, keepdims=True) + 1e-6)
    mean = np.array([[[100.0, 120.0, 90.0]]], dtype='float32')
    std = np.array([[[50.0, 60.0, 70.0]]], dtype='float32')
    fw = (x - mean) / (std + 1e-6)

    # fit: featurewise mean/std and ZCA on a small batch (n, 2, 2, 3): D = 12
    n = 20
    batch = (rng.rand(n, 2, 2, 3) * 255).astype('float32')
    fx = batch.copy() * np.float32(1 / 255.0)
    fmean = np.mean(fx, axis=(0, 1, 2))
    fxc = fx - fmean.reshape(1, 1, 3)
    fstd = np.std(fxc, axis=(0, 1, 2))
    flat_x = np.reshape(fxc, (n, 12))
    eps = 1e-6
    u, s, _ = np.linalg.svd(flat_x.T, full_matrices=False)
    pcs = (u * (np.sqrt(n) / (s + eps))).dot(u.T)
    # n < D: the thin SVD keeps only n components (Keras 3 drops the others). Not centred here, so that
    # the n components are well defined (centred data has rank n-1 and the n-th is arbitrary).
    n_small = 5
    zca_small = np.reshape(fx[:n_small], (n_small, 12))
    u2, s2, _ = np.linalg.svd(zca_small.T, full_matrices=False)
    pcs_small = (u2 * (np.sqrt(n_small) / (s2 + eps))).dot(u2.T)
    probe = (batch[0] * np.float32(1 / 255.0)) - fmean.reshape(1, 1, 3)
    whitened = np.reshape(np.dot(np.reshape(probe, (1, 12)), pcs), (2, 2, 3))

    # preprocess_input modes (keras.applications.imagenet_utils._preprocess_numpy_input, channels_last)
    pi = img.copy()
    tf_mode = pi / np.float32(127.5) - np.float32(1.0)
    caffe = pi[..., ::-1].copy()
    for k, m in enumerate([103.939, 116.779, 123.68]):
        caffe[..., k] -= m
    torch = pi / np.float32(255.0)
    for k, (m, sd) in enumerate(zip([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])):
        torch[..., k] -= m
        torch[..., k] /= sd

    # PIL's RGB -> L (Keras's grayscale color_mode)
    rgb8 = (rng.rand(4, 5, 3) * 255).astype('uint8')
    luma = np.asarray(Image.fromarray(rgb8, 'RGB').convert('L'))

    # BMP / PPM / PGM files as PIL writes them (Keras lists .bmp and .ppm; sharp reads neither),
    # with the RGB pixels PIL decodes from them (Keras's load_img(color_mode='rgb')).
    legacy_dir = os.path.join(os.path.dirname(OUT), 'legacy')
    os.makedirs(legacy_dir, exist_ok=True)
    small = (rng.rand(5, 7, 3) * 255).astype('uint8')
    rgba_small = (rng.rand(5, 7, 4) * 255).astype('uint8')
    legacy = {}
    variants = [
        ('rgb24.bmp', Image.fromarray(small, 'RGB')),
        ('palette8.bmp', Image.fromarray(small, 'RGB').convert('P', palette=Image.ADAPTIVE, colors=16)),
        ('gray8.bmp', Image.fromarray(small, 'RGB').convert('L')),
        ('mono1.bmp', Image.fromarray(small, 'RGB').convert('1')),
        ('rgba32.bmp', Image.fromarray(rgba_small, 'RGBA')),
        ('rgb.ppm', Image.fromarray(small, 'RGB')),
        ('gray.pgm', Image.fromarray(small, 'RGB').convert('L')),
    ]
    for name, im in variants:
        path = os.path.join(legacy_dir, name)
        im.save(path)
        back = Image.open(path)
        legacy[name] = dict(mode=back.mode, shape=[back.height, back.width], rgb=[int(v) for v in np.asarray(back.convert('RGB')).ravel()])

    # Keras's load_img resize with interpolation='nearest' (PIL NEAREST), with and without
    # keep_aspect_ratio (Keras's centred crop box).
    src = (rng.rand(11, 13, 3) * 255).astype('uint8')
    nearest = []
    for (th, tw) in [(5, 7), (7, 5), (20, 9)]:
        for keep in [False, True]:
            im = Image.fromarray(src, 'RGB')
            if keep:
                width, height = im.size
                crop_height = min(height, (width * th) // tw)
                crop_width = min(width, (height * tw) // th)
                hs = (height - crop_height) // 2
                ws = (width - crop_width) // 2
                out = im.resize((tw, th), Image.NEAREST, box=[ws, hs, ws + crop_width, hs + crop_height])
            else:
                out = im.resize((tw, th), Image.NEAREST)
            nearest.append(dict(target=[th, tw], keepAspectRatio=keep, rgb=[int(v) for v in np.asarray(out).ravel()]))

    # A CMYK JPEG as PIL writes it (no ICC profile), and the RGB PIL decodes from it (Keras's load_img:
    # PIL's naive CMYK -> RGB). Its own generator, so the values above stay as they were.
    cmyk_rng = np.random.RandomState(77)
    cmyk_src = (cmyk_rng.rand(6, 8, 3) * 255).astype('uint8')
    cmyk_path = os.path.join(os.path.dirname(OUT), 'cmyk_pil.jpg')
    Image.fromarray(cmyk_src, 'RGB').convert('CMYK').save(cmyk_path, quality=100)
    cmyk_back = Image.open(cmyk_path)
    cmyk = dict(mode=cmyk_back.mode, shape=[cmyk_back.height, cmyk_back.width], rgb=[int(v) for v in np.asarray(cmyk_back.convert('RGB')).ravel()])

    ref = dict(
        versions=dict(numpy=np.__version__, scipy=scipy.__version__, pil=Image.__version__),
        image=dict(shape=[h, w, c], data=flat(img)),
        affine=affine_cases,
        channelShift=dict(intensity=41.5, output=flat(shift_out)),
        flipHorizontal=flat(img[:, ::-1, :]),
        flipVertical=flat(img[::-1, :, :]),
        brightness=brightness_cases,
        samplewise=flat(sw),
        featurewise=dict(mean=flat(mean), std=flat(std), output=flat(fw)),
        fit=dict(shape=[n, 2, 2, 3], data=flat(batch), rescale=1 / 255.0, mean=flat(fmean), std=flat(fstd),
                 principalComponents=flat(pcs), whitenedFirst=flat(whitened),
                 small=flat(zca_small), principalComponentsSmall=flat(pcs_small)),
        preprocessInput=dict(tf=flat(tf_mode), caffe=flat(caffe), torch=flat(torch)),
        luma=dict(shape=[4, 5, 3], rgb=[int(v) for v in rgb8.ravel()], l=[int(v) for v in luma.ravel()]),
        legacy=legacy,
        cmykJpeg=cmyk,
        nearestResize=dict(shape=[11, 13, 3], rgb=[int(v) for v in src.ravel()], cases=nearest),
    )
    with open(OUT, 'w') as f:
        json.dump(ref, f, separators=(',', ':'))
    print('wrote', os.path.normpath(OUT), os.path.getsize(OUT), 'bytes')


if __name__ == '__main__':
    main()
