#!/usr/bin/python3
"""Reference values for tlkit's linear probe (test/train/probes/linear_probe.test.ts): L2-regularised logistic
regression solved by scipy's L-BFGS-B to a tight tolerance, with Debian's python3-numpy and python3-scipy
(scikit-learn is not needed: its objective is restated below).

Objective, scikit-learn's convention:  sum_i crossEntropy_i + ||W||^2 / (2 C), bias not penalised.
Two classes: one weight vector, sigmoid. More: one vector per class, softmax.

The probe case restates tlkit's selection rule: standardise on the training rows (population std, 1 where
it is 0), stratified folds (a row's rank within its class modulo the fold count), mean fold accuracy per C,
the smallest C among the best, refit on every training row, score the held-out rows.

Run:  /usr/bin/python3 scripts/reference/linear_probe_reference.py
Writes: test/fixtures/train/linear_probe.json
"""
import json
import os

import numpy as np
from scipy.optimize import minimize

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'train', 'linear_probe.json')
rng = np.random.RandomState(20261201)


def flat(a):
    return [float('%.12g' % v) for v in np.asarray(a, dtype=np.float64).ravel()]


def objective(params, x, y, classes, c):
    n, d = x.shape
    k = 1 if classes == 2 else classes
    w = params[: k * d].reshape(k, d)
    b = params[k * d:]
    z = x @ w.T + b
    if k == 1:
        z = z[:, 0]
        loss = np.sum(np.logaddexp(0, z) - y * z)
        r = (1 / (1 + np.exp(-z)) - y)[:, None]
    else:
        m = z.max(axis=1, keepdims=True)
        log_sum = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
        loss = np.sum(log_sum - z[np.arange(n), y])
        p = np.exp(z - log_sum[:, None])
        p[np.arange(n), y] -= 1
        r = p
    gw = r.T @ x + w / c
    gb = r.sum(axis=0)
    return loss + 0.5 * np.sum(w * w) / c, np.concatenate([gw.ravel(), gb])


def fit(x, y, classes, c):
    k = 1 if classes == 2 else classes
    x0 = np.zeros(k * x.shape[1] + k)
    res = minimize(objective, x0, args=(x, y, classes, c), jac=True, method='L-BFGS-B',
                   options={'maxiter': 20000, 'gtol': 1e-12, 'ftol': 1e-15, 'maxcor': 20})
    d = x.shape[1]
    return res.x[: k * d].reshape(k, d), res.x[k * d:]


def predict(w, b, x):
    z = x @ w.T + b
    return (z[:, 0] > 0).astype(int) if w.shape[0] == 1 else z.argmax(axis=1)


def blobs(n, d, classes, spread):
    centres = rng.normal(size=(classes, d)) * spread
    y = np.arange(n) % classes
    rng.shuffle(y)
    x = centres[y] + rng.normal(size=(n, d)) * np.linspace(0.5, 3, d) + np.linspace(-2, 2, d)
    return x, y


cases = []
for name, n, d, classes, c, spread in [('binary', 120, 10, 2, 0.5, 0.8), ('multinomial', 150, 8, 3, 2.0, 1.0)]:
    x, y = blobs(n, d, classes, spread)
    w, b = fit(x, y, classes, c)
    cases.append({'name': name, 'n': n, 'd': d, 'classes': classes, 'c': c, 'x': flat(x), 'y': y.tolist(),
                  'weights': flat(w), 'bias': flat(b), 'accuracy': float(np.mean(predict(w, b, x) == y))})

# The probe: C chosen by stratified 3-fold cross-validation on standardised training rows.
classes, d, folds, grid = 3, 20, 3, [1e-3, 1e-2, 1e-1, 1.0]
x_all, y_all = blobs(210, d, classes, 0.35)
x_train, y_train, x_test, y_test = x_all[:150], y_all[:150], x_all[150:], y_all[150:]
mean = x_train.mean(axis=0)
std = x_train.std(axis=0)
scale = np.where(std > 1e-12, 1 / np.where(std > 1e-12, std, 1), 1)
z_train = (x_train - mean) * scale
z_test = (x_test - mean) * scale
rank = np.zeros(len(y_train), dtype=int)
seen = {}
for i, t in enumerate(y_train):
    rank[i] = seen.get(t, 0)
    seen[t] = rank[i] + 1
fold = rank % folds
cv = []
for c in grid:
    right = 0
    for f in range(folds):
        w, b = fit(z_train[fold != f], y_train[fold != f], classes, c)
        right += int(np.sum(predict(w, b, z_train[fold == f]) == y_train[fold == f]))
    cv.append(right / len(y_train))
best = grid[int(np.argmax(cv))]
w, b = fit(z_train, y_train, classes, best)
probe = {'classes': classes, 'd': d, 'folds': folds, 'cGrid': grid,
         'xTrain': flat(x_train), 'yTrain': y_train.tolist(), 'xTest': flat(x_test), 'yTest': y_test.tolist(),
         'cvAccuracy': cv, 'c': best, 'accuracy': float(np.mean(predict(w, b, z_test) == y_test)),
         'trainAccuracy': float(np.mean(predict(w, b, z_train) == y_train))}

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, 'w') as fh:
    json.dump({'generator': 'scripts/reference/linear_probe_reference.py', 'cases': cases, 'probe': probe}, fh)
    fh.write('\n')
print('wrote', OUT, 'probe cv', cv, 'C', best, 'accuracy', probe['accuracy'])
