"""CPU training-step speed of a U-Net/ResNet-18: float32 against what `segscope train` does.

One optimiser step (forward, cross-entropy, backward, AdamW) on a batch of random 1-channel
256x256 crops, the ISBI recipe's model (slim decoder 128, 64, 32, 16, 16), in one run:

* float32, default (contiguous) memory layout: plain smp + torch, the baseline;
* float32, channels-last layout;
* bfloat16 autocast (``torch.autocast("cpu", torch.bfloat16)``, Lightning's ``bf16-mixed``);
* bfloat16 autocast + channels-last: what ``segscope train --precision auto`` does on a CPU with
  native bfloat16 (it prints whether this one has it);
* with --compile, the last again under ``torch.compile`` (inductor, default mode), which
  ``segscope train`` does not use; its compile time is printed apart.

Run:  .venv/bin/python benchmarks/training_step.py [--batch 8] [--size 256] [--iters 10] [--threads 2] [--compile]
Reports the median of the timed steps (the warm-up steps are not timed: one, and two under
torch.compile, whose first steps compile; about 40 s together on this CPU). Random weights and
data: the speed of a step does not depend on them.
"""

from __future__ import annotations

import argparse
import statistics
import time


def _step_seconds(
    *, bf16: bool, channels_last: bool, compiled: bool, args: argparse.Namespace
) -> tuple[float, float]:
    """Median seconds of the timed steps, and seconds of the warm-up steps together."""
    import segmentation_models_pytorch as smp
    import torch

    torch.manual_seed(0)
    model = smp.Unet(
        "resnet18", encoder_weights=None, in_channels=1, classes=2, decoder_channels=(128, 64, 32, 16, 16)
    ).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(args.batch, 1, args.size, args.size)
    y = torch.randint(0, 2, (args.batch, args.size, args.size))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    forward = torch.compile(model) if compiled else model
    warm_up = 2 if compiled else 1  # the first step warms up oneDNN (and compiles)
    times = []
    for _ in range(args.iters + warm_up):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(forward(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times[warm_up:]), sum(times[:warm_up])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iters", type=int, default=10, help="timed steps (median reported)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="add a torch.compile row (about 40 s to compile)")
    args = ap.parse_args()

    import torch

    from segscope.training.train import native_bf16

    torch.set_num_threads(args.threads)
    native = native_bf16()
    print(f"native bfloat16 on this CPU: {native}; torch threads {args.threads}")
    rows = [
        ("float32 (plain smp + torch)", False, False, False),
        ("float32, channels-last", False, True, False),
        ("bfloat16 autocast", True, False, False),
        ("bfloat16 autocast, channels-last (segscope auto)", True, True, False),
    ]
    if args.compile:
        rows.append(("bfloat16 autocast, channels-last, torch.compile", True, True, True))
    base = None
    print(f"\n| U-Net/ResNet-18 step, batch {args.batch} x {args.size}x{args.size} | s/step | speed-up |")
    print("|---|---:|---:|")
    warm_ups = []
    for name, bf16, cl, compiled in rows:
        sec, warm = _step_seconds(bf16=bf16, channels_last=cl, compiled=compiled, args=args)
        base = base or sec
        warm_ups.append(f"{name}: {warm:.1f} s")
        print(f"| {name} | {sec:.3f} | {base / sec:.2f}x |", flush=True)
    print("\nwarm-up steps, not timed above: " + "; ".join(warm_ups))


if __name__ == "__main__":
    main()
