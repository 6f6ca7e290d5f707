#!/usr/bin/python3
"""PyTorch (Debian python3-torch) full fine-tuning step throughput, the reference for bench/train_onnx.ts:
MobileNetV2 / ResNet50 (torchvision, random weights) + GAP + Linear(classes), 224x224, train mode
(BatchNorm batch statistics), cross-entropy, Adam, every layer trainable.

Each model runs in PyTorch's CPU best practice, channels_last (model and input converted with
.to(memory_format=torch.channels_last): oneDNN's blocked/NHWC kernels), and NCHW-contiguous beside it
(what a script that never converts gets). channels_last is the reference the ratios use.

Prints one JSON object: {"torch": version, "threads": n, "batch": b, "results": {model: img_per_s channels_last},
"results_nchw": {model: img_per_s NCHW-contiguous}, "peak_rss_mb": m,
"sgemm_gflops": best GFLOP/s of a 2048^3 torch.matmul with the same threads (the machine's arithmetic peak)}.
--freeze-bn: every BatchNorm2d in eval mode with its weight and bias frozen (Keras's frozen BatchNormalization).
Usage: /usr/bin/python3 bench/train_onnx_torch.py [--threads 2] [--batch 16] [--size 224] [--iters 5] [--freeze-bn] [models...]
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torchvision


def classifier(name, classes):
    if name == "mobilenet_v2":
        net = torchvision.models.mobilenet_v2(weights=None)
        net.classifier = torch.nn.Linear(1280, classes)
        return net
    if name == "resnet50":
        net = torchvision.models.resnet50(weights=None)
        net.fc = torch.nn.Linear(2048, classes)
        return net
    raise SystemExit(f"unknown model {name!r}; accepted: mobilenet_v2, resnet50")


def sgemm_peak(n=2048, reps=5):
    a = torch.rand(n, n)
    b = torch.rand(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def train_rate(name, args, memory_format):
    """Median img/s of `args.iters` full training steps after one warm-up, in `memory_format`."""
    torch.manual_seed(0)
    net = classifier(name, args.classes).train().to(memory_format=memory_format)
    if args.freeze_bn:
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eval()
                module.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    x = torch.rand(args.batch, 3, args.size, args.size).to(memory_format=memory_format)
    y = torch.randint(0, args.classes, (args.batch,))

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    times = []
    for _ in range(args.iters):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return args.batch / statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", default=["mobilenet_v2"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--freeze-bn", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = {}
    results_nchw = {}
    for name in args.models:
        # peak_rss_mb below is the larger of the two runs (one process).
        results[name] = train_rate(name, args, torch.channels_last)
        results_nchw[name] = train_rate(name, args, torch.contiguous_format)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"torch": torch.__version__, "threads": args.threads, "batch": args.batch, "results": results, "results_nchw": results_nchw, "peak_rss_mb": round(peak_mb), "sgemm_gflops": sgemm_peak()}))


if __name__ == "__main__":
    main()
