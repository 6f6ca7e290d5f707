#!/usr/bin/python3
"""PyTorch (Debian python3-torch + python3-torchvision) counterpart of bench/e2e.ts: the reference
experiment's shape with a frozen MobileNetV2 end to end: ImageFolder decode + resize (+ augmentation),
the frozen backbone in eval mode (BatchNorm on moving statistics, no gradients), the reference head
(Flatten -> Linear(16) -> ReLU -> Dropout(0.25) -> Linear(2)) trained with Adam, for EPOCHS epochs.

Prints one JSON object on its last line: {"torch", "threads", "seconds", "img_s", "final_loss", "max_rss_mb"}.
Usage: /usr/bin/python3 bench/e2e_torch.py DIR [--epochs 5] [--batch 32] [--size 224] [--augment] [--threads 2] [--workers 1]
"""
import argparse
import json
import math
import resource
import time

import torch
import torchvision
from torchvision import transforms


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--augment", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    steps = [transforms.Resize((args.size, args.size), interpolation=transforms.InterpolationMode.NEAREST)]
    if args.augment:
        # The reference config: rotation 20, shifts 0.1, shear 0.1 (degrees, as Keras), zoom 0.1, flip, brightness 0.8-1.2.
        steps += [
            transforms.RandomAffine(degrees=20, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=0.1),
            transforms.RandomHorizontalFlip(),
            transforms.ColorJitter(brightness=(0.8, 1.2)),
        ]
    steps += [transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)]  # x/127.5 - 1, Keras 'tf' mode
    data = torchvision.datasets.ImageFolder(args.dir, transform=transforms.Compose(steps))
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=True, num_workers=args.workers)

    backbone = torchvision.models.mobilenet_v2(weights=None).features.eval()
    for q in backbone.parameters():
        q.requires_grad_(False)
    with torch.no_grad():
        features = backbone(torch.zeros(1, 3, args.size, args.size)).numel()
    head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(features, 16), torch.nn.ReLU(), torch.nn.Dropout(0.25), torch.nn.Linear(16, 2))
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    start = time.perf_counter()
    seen = 0
    loss = math.nan
    for _ in range(args.epochs):
        head.train()
        for x, y in loader:
            with torch.no_grad():
                f = backbone(x)
            optimizer.zero_grad(set_to_none=True)
            out = loss_fn(head(f), y)
            out.backward()
            optimizer.step()
            loss = out.item()
            seen += x.shape[0]
    seconds = time.perf_counter() - start
    print(json.dumps({
        "torch": torch.__version__, "threads": args.threads, "seconds": seconds, "img_s": seen / seconds,
        "final_loss": loss, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
