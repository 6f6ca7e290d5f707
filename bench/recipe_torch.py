#!/usr/bin/python3
"""PyTorch (Debian python3-torch + python3-torchvision) counterpart of bench/recipe.ts: tlkit's default
compare recipe written the way a PyTorch user writes it, channels_last, no feature caching. For each
backbone: ImageFolder decode + resize to SIZE, the first 20% of each class's sorted files held out (as
Keras's validation_split), GAP -> Linear(classes) head trained with Adam(1e-3) on the frozen backbone
(BatchNorm in eval mode) for HEAD_EPOCHS, then the backbone's last block unfrozen (BatchNorm kept frozen)
and everything trainable trained at 1e-4 for FINE_TUNE_EPOCHS, then held-out accuracy.

The backbones start from random weights (torchvision's ImageNet files cannot be downloaded here), so
the accuracy printed is not comparable with tlkit's pretrained one; the time is: the work per image
does not depend on the weights.

Prints one JSON object on its last line: {"torch", "threads", "backbones": [{id, seconds, accuracy, ...}]}.
Usage: /usr/bin/python3 bench/recipe_torch.py DIR --backbones mobilenet_v2,inception_v3 --head-epochs 12,9
       [--fine-tune-epochs 3] [--batch 32] [--size 224] [--threads 2] [--workers 1]
"""
import argparse
import json
import time

import torch
import torchvision
from torchvision import transforms


def build(backbone_id, classes):
    """(model, backbone part, last-block modules, feature width): torchvision's models with a GAP + Linear head."""
    if backbone_id == "mobilenet_v2":
        net = torchvision.models.mobilenet_v2(weights=None)
        backbone = net.features
        # Keras's 'block_15_add' boundary: the last inverted residual block (block 16) and Conv_1.
        last_block = [backbone[17], backbone[18]]
        width = 1280
    elif backbone_id == "inception_v3":
        net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True, transform_input=False)
        layers = [net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, net.maxpool1, net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, net.maxpool2,
                  net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e,
                  net.Mixed_7a, net.Mixed_7b, net.Mixed_7c]
        backbone = torch.nn.Sequential(*layers)
        # Keras's 'mixed9' boundary: the last block, mixed10 (torchvision's Mixed_7c).
        last_block = [net.Mixed_7c]
        width = 2048
    else:
        raise SystemExit(f"unknown backbone {backbone_id}")
    model = torch.nn.Sequential(backbone, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(width, classes))
    return model, backbone, last_block


def set_phase(model, backbone, last_block, phase):
    """Phase 1: only the head trains. Phase 2: the last block too, its BatchNorm frozen (eval mode, no grads)."""
    for p in backbone.parameters():
        p.requires_grad_(False)
    trainable_modules = [] if phase == 1 else last_block
    for m in trainable_modules:
        for sub in m.modules():
            is_bn = isinstance(sub, torch.nn.BatchNorm2d)
            for p in sub.parameters(recurse=False):
                p.requires_grad_(not is_bn)
    model.train()
    backbone.eval()  # frozen BatchNorm everywhere in the backbone: moving statistics, no updates
    return [p for p in model.parameters() if p.requires_grad]


def run_epochs(model, loader, params, lr, epochs):
    """Trains `epochs` epochs; returns the seconds of each."""
    optimizer = torch.optim.Adam(params, lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        for x, y in loader:
            x = x.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
    return seconds


def accuracy(model, loader):
    model.eval()
    right = total = 0
    with torch.no_grad():
        for x, y in loader:
            right += (model(x.contiguous(memory_format=torch.channels_last)).argmax(1) == y).sum().item()
            total += y.numel()
    return right / total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--backbones", default="mobilenet_v2,inception_v3")
    p.add_argument("--head-epochs", default="5,5")
    p.add_argument("--fine-tune-epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--val-split", type=float, default=0.2)
    p.add_argument("--max-head-epochs", type=int, default=None,
                   help="run at most this many head epochs and project the rest from their mean time (reported as projected)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1234)

    tf = transforms.Compose([transforms.Resize((args.size, args.size)), transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)])
    data = torchvision.datasets.ImageFolder(args.dir, transform=tf)
    by_class = {}
    for i, (_, c) in enumerate(data.samples):
        by_class.setdefault(c, []).append(i)
    val_idx, train_idx = [], []
    for c, idx in by_class.items():
        k = int(len(idx) * args.val_split)
        val_idx += idx[:k]
        train_idx += idx[k:]
    train = torch.utils.data.DataLoader(torch.utils.data.Subset(data, train_idx), batch_size=args.batch, shuffle=True, num_workers=args.workers)
    val = torch.utils.data.DataLoader(torch.utils.data.Subset(data, val_idx), batch_size=args.batch, shuffle=False, num_workers=args.workers)

    results = []
    head_epochs = [int(e) for e in args.head_epochs.split(",")]
    for i, backbone_id in enumerate(args.backbones.split(",")):
        start = time.perf_counter()
        model, backbone, last_block = build(backbone_id, len(data.classes))
        model = model.to(memory_format=torch.channels_last)
        wanted = head_epochs[i]
        run = wanted if args.max_head_epochs is None else min(wanted, args.max_head_epochs)
        head = run_epochs(model, train, set_phase(model, backbone, last_block, 1), 1e-3, run)
        fine = run_epochs(model, train, set_phase(model, backbone, last_block, 2), 1e-4, args.fine_tune_epochs)
        acc = accuracy(model, val)
        seconds = time.perf_counter() - start
        # Epochs not run cost what the run ones cost on average (the work per epoch is the same).
        unrun = (wanted - run) * (sum(head) / len(head) if head else 0)
        results.append({"id": backbone_id, "seconds": seconds, "projected_seconds": seconds + unrun, "accuracy": acc,
                        "head_epochs": wanted, "head_epochs_run": run, "head_epoch_seconds": head, "fine_tune_epoch_seconds": fine,
                        "fine_tune_epochs": args.fine_tune_epochs, "train_images": len(train_idx), "val_images": len(val_idx)})
        print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"torch": torch.__version__, "threads": args.threads, "backbones": results}))


if __name__ == "__main__":
    main()
