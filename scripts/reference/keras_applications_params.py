"""Independent parameter calculator for Keras's MobileNet, MobileNetV2 and EfficientNetB0.

Written from the architecture as keras/src/applications/{mobilenet,mobilenet_v2,efficientnet}.py
build it (layer by layer, no Keras import), so test/models/zoo.test.ts can pin Keras's
Total / Trainable / Non-trainable params for variants whose numbers are not published.

Run:  /usr/bin/python3 scripts/reference/keras_applications_params.py > test/fixtures/models/keras_params.json
Check: the alpha=1 rows must equal Keras's published summaries (MobileNet 3,228,864 / 21,888 no-top,
4,253,864 top; MobileNetV2 2,257,984 / 34,112, 3,538,984; EfficientNetB0 4,049,571 / 42,023, 5,330,571).
"""
import json
import math


class Count:
    def __init__(self):
        self.trainable = 0
        self.non_trainable = 0

    def conv(self, k, cin, cout, bias):
        self.trainable += k * k * cin * cout + (cout if bias else 0)

    def depthwise(self, k, cin, multiplier=1):
        self.trainable += k * k * cin * multiplier

    def bn(self, c):
        # gamma, beta trainable; moving mean, moving variance not.
        self.trainable += 2 * c
        self.non_trainable += 2 * c

    def dense(self, cin, cout):
        self.trainable += cin * cout + cout

    def as_dict(self):
        return {
            "totalParams": self.trainable + self.non_trainable,
            "trainableParams": self.trainable,
            "nonTrainableParams": self.non_trainable,
        }


def mobilenet(alpha=1.0, depth_multiplier=1, include_top=True, classes=1000):
    c = Count()
    cin = int(32 * alpha)
    c.conv(3, 3, cin, bias=False)
    c.bn(cin)
    for filters in [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]:
        c.depthwise(3, cin, depth_multiplier)
        c.bn(cin * depth_multiplier)
        cout = int(filters * alpha)
        c.conv(1, cin * depth_multiplier, cout, bias=False)
        c.bn(cout)
        cin = cout
    if include_top:
        c.conv(1, cin, classes, bias=True)  # conv_preds
    return c.as_dict()


def make_divisible(v, divisor, min_value=None):
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def mobilenet_v2(alpha=1.0, include_top=True, classes=1000):
    c = Count()
    cin = make_divisible(32 * alpha, 8)
    c.conv(3, 3, cin, bias=False)
    c.bn(cin)
    # (filters, expansion) per block_id 0..16; strides do not change params.
    blocks = [(16, 1)] + [(24, 6)] * 2 + [(32, 6)] * 3 + [(64, 6)] * 4 + [(96, 6)] * 3 + [(160, 6)] * 3 + [(320, 6)]
    for block_id, (filters, expansion) in enumerate(blocks):
        out = make_divisible(int(filters * alpha), 8)
        width = cin
        if block_id:
            width = expansion * cin
            c.conv(1, cin, width, bias=False)
            c.bn(width)
        c.depthwise(3, width)
        c.bn(width)
        c.conv(1, width, out, bias=False)
        c.bn(out)
        cin = out
    last = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    c.conv(1, cin, last, bias=False)
    c.bn(last)
    if include_top:
        c.dense(last, classes)
    return c.as_dict()


def efficientnet(width=1.0, depth=1.0, include_top=True, classes=1000, divisor=8):
    # (kernel, repeats, filters_in, filters_out, expand_ratio, se_ratio)
    blocks_args = [
        (3, 1, 32, 16, 1, 0.25),
        (3, 2, 16, 24, 6, 0.25),
        (5, 2, 24, 40, 6, 0.25),
        (3, 3, 40, 80, 6, 0.25),
        (5, 3, 80, 112, 6, 0.25),
        (5, 4, 112, 192, 6, 0.25),
        (3, 1, 192, 320, 6, 0.25),
    ]

    def round_filters(f):
        f *= width
        new = max(divisor, int(f + divisor / 2) // divisor * divisor)
        if new < 0.9 * f:
            new += divisor
        return int(new)

    c = Count()
    c.non_trainable += 3 + 3 + 1  # Normalization: mean, variance, count
    stem = round_filters(32)
    c.conv(3, 3, stem, bias=False)
    c.bn(stem)
    for kernel, repeats, f_in, f_out, expand, se_ratio in blocks_args:
        f_in, f_out = round_filters(f_in), round_filters(f_out)
        for j in range(int(math.ceil(depth * repeats))):
            if j > 0:
                f_in = f_out
            filters = f_in * expand
            if expand != 1:
                c.conv(1, f_in, filters, bias=False)
                c.bn(filters)
            c.depthwise(kernel, filters)
            c.bn(filters)
            filters_se = max(1, int(f_in * se_ratio))
            c.conv(1, filters, filters_se, bias=True)  # se_reduce
            c.conv(1, filters_se, filters, bias=True)  # se_expand
            c.conv(1, filters, f_out, bias=False)  # project_conv
            c.bn(f_out)
    top = round_filters(1280)
    c.conv(1, round_filters(320), top, bias=False)
    c.bn(top)
    if include_top:
        c.dense(top, classes)
    return c.as_dict()


def main():
    rows = {}
    for alpha in [0.25, 0.5, 0.75, 1.0]:
        for top in [False, True]:
            rows[f"mobilenet alpha={alpha} includeTop={top}"] = mobilenet(alpha, include_top=top)
    rows["mobilenet alpha=1.0 depthMultiplier=2 includeTop=False"] = mobilenet(1.0, 2, include_top=False)
    for alpha in [0.35, 0.5, 0.75, 1.0, 1.3, 1.4]:
        for top in [False, True]:
            rows[f"mobilenet_v2 alpha={alpha} includeTop={top}"] = mobilenet_v2(alpha, include_top=top)
    for top in [False, True]:
        rows[f"efficientnet_b0 includeTop={top}"] = efficientnet(include_top=top)
    rows["efficientnet_b0 includeTop=True classes=10"] = efficientnet(include_top=True, classes=10)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
