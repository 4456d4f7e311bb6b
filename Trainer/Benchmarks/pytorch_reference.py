#!/usr/bin/python3
"""Reference for `trainer bench`: the same training step (ResNet-18 with the package's [2, 2, 2, 3] blocks, one grey
input channel, one logit, BCE, Adam) in Debian's python3-torch, so TorchSharp's speed can be compared side by side on
the same machine. Not part of the product; needs `apt-get install python3-torch`.

    /usr/bin/python3 Trainer/Benchmarks/pytorch_reference.py --size 224 --batch 16 --steps 5 [--channels-last] [--threads N]
"""
import argparse
import os
import statistics
import time

import torch
from torch import nn


def conv_bn(cin, cout, k, s):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = conv_bn(cin, cout, 3, stride)
        self.b = conv_bn(cout, cout, 3, 1)
        self.short = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        return torch.relu(self.b(torch.relu(self.a(x))) + self.short(x))


def resnet18(blocks=(2, 2, 2, 3)):
    layers = [conv_bn(1, 64, 7, 2), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for stage, (n, cout) in enumerate(zip(blocks, (64, 128, 256, 512))):
        for i in range(n):
            layers.append(Block(cin, cout, 2 if stage > 0 and i == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1)]
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = every core)")
    a = p.parse_args()
    torch.set_num_threads(a.threads or os.cpu_count())
    model = resnet18().train()
    x = torch.rand(a.batch, 1, a.size, a.size)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for step in range(a.steps + 1):
        start = time.perf_counter()
        out = model(x)
        loss = nn.functional.binary_cross_entropy_with_logits(out, (torch.rand_like(out) > 0.5).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step > 0:
            times.append(time.perf_counter() - start)
    step = statistics.median(times)
    layout = "nhwc" if a.channels_last else "nchw"
    print(f"pytorch {torch.__version__} resnet18 {a.size}px batch {a.batch} {layout} threads {torch.get_num_threads()}: "
          f"step {step * 1000:.1f} ms, {a.batch / step:.1f} img/s")


if __name__ == "__main__":
    main()
