#!/usr/bin/python3
"""PyTorch (Debian python3-torch) forward-pass throughput of the frozen feature extractors that
bench/features.ts measures in tlkit: MobileNetV2 and ResNet50 without their classifier, 224x224,
batch 32, eval mode, no autograd. Random weights (speed does not depend on them).

Prints one JSON object: {"torch": version, "threads": n, "results": {model: {"median": img/s, "best": img/s}}}.
Usage: /usr/bin/python3 bench/features_torch.py [--threads 2] [--batch 32] [--size 224] [--iters 5] [models...]

Note: torchvision's ResNet50 is v1.5 (stride 2 on the 3x3 conv); Keras's is v1 (stride 2 on the first
1x1), about 5% fewer FLOPs. MobileNetV2 (width 1.0) is the same network in both.
"""
import argparse
import json
import statistics
import time

import torch
import torchvision


def feature_extractor(name):
    if name == "mobilenet_v2":
        return torchvision.models.mobilenet_v2(weights=None).features
    if name == "resnet50":
        net = torchvision.models.resnet50(weights=None)
        return torch.nn.Sequential(*list(net.children())[:-2])  # drop avgpool and fc
    raise SystemExit(f"unknown model {name!r}; accepted: mobilenet_v2, resnet50")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", default=["mobilenet_v2", "resnet50"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--iters", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = {}
    for name in args.models:
        net = feature_extractor(name).eval()
        x = torch.rand(args.batch, 3, args.size, args.size)
        times = []
        with torch.no_grad():
            net(x)  # warm-up
            for _ in range(args.iters):
                start = time.perf_counter()
                net(x)
                times.append(time.perf_counter() - start)
        results[name] = {"median": args.batch / statistics.median(times), "best": args.batch / min(times)}
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}))


if __name__ == "__main__":
    main()
