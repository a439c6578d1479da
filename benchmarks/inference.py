"""CPU inference speed and tiled-prediction memory of a U-Net/ResNet-18.

Measures, in one run:
  * images/s at 512x512 for plain smp eager (torch.inference_mode, preprocessed tensors),
    the segscope torch backend and the segscope ONNX Runtime backend (raw uint8 image in,
    Prediction out: preprocessing, padding, softmax and arg-max included), with ratios;
  * peak resident memory (ru_maxrss) of a tiled prediction of one HUGE x HUGE image, in a
    fresh subprocess so nothing else counts. The result itself, (H, W, K) float32 probabilities,
    is 0.5 GB at 8192x8192 with K=2; blending uses row bands, not full-size accumulators.

Run:  .venv/bin/python benchmarks/inference.py [--size 512] [--iters 10] [--huge 8192] [--tile 512]
      [--huge-batch 4] [--huge-backend onnx|torch]
Random weights: speed and memory do not depend on what the model learned.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _rate(fn, iters: int) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    return iters / (time.perf_counter() - t)


def _huge(model: str, size: int, tile: int, backend: str, batch_size: int) -> dict:
    code = f"""
import json, resource, time, numpy as np
from segscope.inference import Predictor
def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
def rss_now(): return int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() / 2**30
p = Predictor.load({model!r}, backend={backend!r})
# Random bytes straight into uint8: no int64 temporary that would set the peak by itself.
img = np.frombuffer(np.random.default_rng(0).bytes({size} * {size} * 3), np.uint8).reshape({size}, {size}, 3)
before = rss_now()
peak_before = rss()
t = time.perf_counter()
pred = p.predict(img, tile={tile}, overlap=64, batch_size={batch_size})
dt = time.perf_counter() - t
print(json.dumps({{"seconds": dt, "peak_rss_gb": rss(), "rss_before_gb": before, "peak_before_gb": peak_before,
                  "mask_shape": list(pred.mask.shape), "probs_gb": pred.probs.nbytes / 2**30}}))
"""
    env = dict(os.environ, SEGSCOPE_PROGRESS="0")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--huge", type=int, default=8192, help="side of the tiled-prediction image (0 to skip)")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--huge-batch", type=int, default=4, help="tiles per call in the tiled prediction")
    ap.add_argument("--huge-backend", default="onnx", choices=("onnx", "torch"))
    args = ap.parse_args()
    os.environ.setdefault("SEGSCOPE_PROGRESS", "0")

    import torch

    from segscope.inference import Predictor, export_onnx
    from segscope.models import Preprocessing, create_model, save_model

    torch.manual_seed(0)
    net = create_model("unet", encoder="resnet18", in_channels=3, num_classes=2).eval()
    pre = Preprocessing(3, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), scale=255.0)
    tmp = Path(tempfile.mkdtemp())
    save_model(tmp / "model.pt", net, pre)
    report = export_onnx(tmp / "model.pt", tmp / "model.onnx")

    image = np.random.default_rng(0).integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
    x = torch.from_numpy(pre.apply(image))[None]
    smp_model = net.net

    def eager() -> None:
        with torch.inference_mode():
            smp_model(x)

    torch_pred = Predictor.load(tmp / "model.pt", backend="torch")
    onnx_pred = Predictor.load(tmp / "model.onnx", backend="onnx")
    rates = {
        "smp eager": _rate(eager, args.iters),
        "segscope torch": _rate(lambda: torch_pred.predict(image), args.iters),
        "segscope onnx": _rate(lambda: onnx_pred.predict(image), args.iters),
    }
    print(
        f"U-Net/ResNet-18, {args.size}x{args.size}, CPU threads={torch.get_num_threads()}, "
        f"ONNX parity max|diff|={report.max_abs_diff:.2e}"
    )
    print("| backend | images/s | vs smp eager |")
    print("|---|---|---|")
    for name, r in rates.items():
        print(f"| {name} | {r:.2f} | {r / rates['smp eager']:.2f}x |")
    if args.huge:
        backend = args.huge_backend
        path = tmp / ("model.onnx" if backend == "onnx" else "model.pt")
        res = _huge(str(path), args.huge, args.tile, backend, args.huge_batch)
        print(
            f"tiled {args.huge}x{args.huge} RGB uint8 ({backend}, tile {args.tile}, overlap 64, "
            f"batch {args.huge_batch}): {res['seconds']:.1f} s, peak RSS {res['peak_rss_gb']:.2f} GB "
            f"(RSS with model and image loaded: {res['rss_before_gb']:.2f} GB, peak until then "
            f"{res['peak_before_gb']:.2f} GB; the returned probs alone are {res['probs_gb']:.2f} GB)"
        )


if __name__ == "__main__":
    main()
