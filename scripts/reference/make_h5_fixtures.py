#!/usr/bin/python3
"""Writes small Keras-layout .h5 weight files for tlkit's weights tests.

Run: /usr/bin/python3 scripts/reference/make_h5_fixtures.py   (Debian: apt-get install python3-h5py python3-numpy)
Writes test/fixtures/weights/*.h5 and expected.json. Keras itself is not needed: the files follow
the layout of Keras 2's legacy HDF5 writer (keras/saving/legacy/hdf5_format.py save_weights_to_hdf5_group
and save_model_to_hdf5), which is what Keras's applications weights files and model.save('x.h5') use:

  /                      attrs: layer_names (every layer, model order), backend, keras_version
  /<layer>               attrs: weight_names ('<layer>/kernel:0', ...; empty for layers without weights)
  /<layer>/<layer>/kernel:0   dataset (the weight name is a path, so h5py makes the inner group)

A full model file (model.save) puts that tree under /model_weights and adds model_config JSON at the root.

The tiny model: Input(8,8,3) -> Conv2D(4, 3x3, same, bias) -> BatchNormalization -> ReLU
-> GlobalAveragePooling2D -> Dense(2). Values come from numpy's seeded generator, so reruns are identical.
"""
import json
import os

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'weights')

KERAS_VERSION = b'2.15.0'
BACKEND = b'tensorflow'


def tiny_weights(rng, filters=4):
    return {
        'conv': [rng.standard_normal((3, 3, 3, filters)).astype('float32'), rng.standard_normal((filters,)).astype('float32')],
        'bn': [
            rng.uniform(0.5, 1.5, filters).astype('float32'),  # gamma
            rng.standard_normal(filters).astype('float32'),  # beta
            rng.standard_normal(filters).astype('float32'),  # moving_mean
            rng.uniform(0.5, 2.0, filters).astype('float32'),  # moving_variance
        ],
        'dense': [rng.standard_normal((filters, 2)).astype('float32'), rng.standard_normal(2).astype('float32')],
    }


def layers_of(names, weights):
    """(layer name, [(weight name, value)]) in model order, as Keras lists model.layers."""
    conv, bn, relu, gap, dense = names
    return [
        ('input_1', []),
        (conv, [(f'{conv}/kernel:0', weights['conv'][0]), (f'{conv}/bias:0', weights['conv'][1])]),
        (bn, [(f'{bn}/{w}:0', v) for w, v in zip(['gamma', 'beta', 'moving_mean', 'moving_variance'], weights['bn'])]),
        (relu, []),
        (gap, []),
        (dense, [(f'{dense}/kernel:0', weights['dense'][0]), (f'{dense}/bias:0', weights['dense'][1])]),
    ]


def write_weights_group(group, layers):
    group.attrs['layer_names'] = np.array([name.encode('utf8') for name, _ in layers])
    group.attrs['backend'] = BACKEND
    group.attrs['keras_version'] = KERAS_VERSION
    # Keras creates the layer groups sorted by name (so no name is a prefix problem for h5py).
    for name, weights in sorted(layers, key=lambda item: item[0]):
        g = group.create_group(name)
        g.attrs['weight_names'] = np.array([w.encode('utf8') for w, _ in weights])
        for weight_name, value in weights:
            d = g.create_dataset(weight_name, value.shape, dtype=value.dtype)
            d[...] = value


def write(path, layers, full_model_config=None):
    with h5py.File(path, 'w') as f:
        if full_model_config is None:
            write_weights_group(f, layers)
        else:
            f.attrs['keras_version'] = KERAS_VERSION
            f.attrs['backend'] = BACKEND
            f.attrs['model_config'] = json.dumps(full_model_config).encode('utf8')
            write_weights_group(f.create_group('model_weights'), layers)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261127)
    named = ('conv1', 'bn1', 'relu1', 'gap', 'predictions')
    auto = ('conv2d_7', 'batch_normalization_3', 're_lu_2', 'global_average_pooling2d_1', 'dense_12')
    weights = tiny_weights(rng)
    # 1. Explicit names, as the tlkit test model names its layers: loads by name and by order.
    write(os.path.join(OUT, 'tiny_named.h5'), layers_of(named, weights))
    # 2. The same values under Keras auto-names from another session: only topological order matches.
    write(os.path.join(OUT, 'tiny_autonamed.h5'), layers_of(auto, weights))
    # 3. Conv with 5 filters: every conv/bn/dense weight has the wrong shape for the 4-filter model.
    write(os.path.join(OUT, 'tiny_wrong_shape.h5'), layers_of(named, tiny_weights(np.random.default_rng(7), filters=5)))
    # 4. A full-model file (model.save): the weights under /model_weights.
    config = {'class_name': 'Functional', 'config': {'name': 'tiny', 'layers': [{'name': n} for n, _ in layers_of(named, weights)]}}
    write(os.path.join(OUT, 'tiny_full_model.h5'), layers_of(named, weights), full_model_config=config)

    expected = {name: [w.ravel().tolist() for w in ws] for name, ws in weights.items()}
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump({'note': 'float32 values of tiny_named.h5 per weight, flattened in C order', 'weights': expected}, f, indent=1)


if __name__ == '__main__':
    main()
