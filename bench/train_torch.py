#!/usr/bin/python3
"""PyTorch (Debian python3-torch) training-step throughput, the counterpart of bench/train.ts:
torchvision's MobileNetV2 features + the reference experiment's head (Flatten -> Linear(16) -> ReLU ->
Dropout(0.25) -> Linear(2)), cross-entropy, Adam(2e-5), random weights and data. Model and input are
channels_last (PyTorch's CPU best practice: oneDNN's NHWC kernels).

Modes: 'full' trains every parameter (BatchNorm in training mode); 'frozen' freezes the backbone
(requires_grad False, eval mode: BatchNorm uses its moving statistics, as Keras runs a frozen BN).

Prints one JSON object on its last line:
{"torch": version, "threads": n, "results": {mode: {"img_s": wall, "cpu_s_per_img": ..., "steps": n}}, "max_rss_mb": ...}
Usage: /usr/bin/python3 bench/train_torch.py [--threads 2] [--batch 16] [--size 224] [--iters 3] [modes...]
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torchvision


def build(size):
    backbone = torchvision.models.mobilenet_v2(weights=None).features
    with torch.no_grad():
        features = backbone(torch.zeros(1, 3, size, size)).numel()
    head = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(features, 16),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.25),
        torch.nn.Linear(16, 2),
    )
    return backbone, head


def bench(mode, args):
    torch.manual_seed(0)
    backbone, head = build(args.size)
    model = torch.nn.Sequential(backbone, head).to(memory_format=torch.channels_last)
    model.train()
    if mode == "frozen":
        for p in backbone.parameters():
            p.requires_grad_(False)
        backbone.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=2e-5)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = (torch.rand(args.batch, 3, args.size, args.size) * 2 - 1).to(memory_format=torch.channels_last)
    y = torch.arange(args.batch) % 2

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    step()  # warm-up
    walls, cpus = [], []
    for _ in range(args.iters):
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return {
        "img_s": args.batch / statistics.median(walls),
        "cpu_s_per_img": statistics.median(cpus) / args.batch,
        "steps": args.iters,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("modes", nargs="*", default=["full", "frozen"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--iters", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for mode in args.modes:
        if mode not in ("full", "frozen"):
            raise SystemExit(f"unknown mode {mode!r}; accepted: full, frozen")
        results[mode] = bench(mode, args)
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results, "max_rss_mb": max_rss_mb}))


if __name__ == "__main__":
    main()
