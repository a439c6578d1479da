"""Active learning on the shapes data: mIoU against the number of labelled images.

Pool-based simulation: a pool of synthetic shapes images whose labels are hidden until an
image is "annotated". Each round trains a tiny U-Net from scratch on the labelled images,
scores it on a fixed test set, predicts the unlabelled pool and picks the next batch with

* ``random``: uniform (the baseline);
* ``entropy-diversity``: the ``candidates * batch`` images of highest top-k pixel entropy,
  then k-centre greedy on the current model's encoder embeddings (segscope.curation.select).

Several seeds (different initial labelled sets, model initialisations and random draws);
reports the mean and standard deviation per labelled-set size, a table, a JSON file and a
plot. Goal: the active strategy reaches random's final mIoU with at most 60% of the labels.

The training loop is a plain torch loop with a fixed number of optimiser steps per round
(not Lightning's ``segscope train``): 30+ short trainings per run, where Lightning's
per-run set-up (run folders, checkpoints, callbacks) would cost more than the training.

Run:   .venv/bin/python benchmarks/active_learning.py   (~15 min on a busy 2-core CPU)
Quick: .venv/bin/python benchmarks/active_learning.py --seeds 1 --rounds 3 --steps 60
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
TINY = {"encoder_depth": 3, "decoder_channels": (32, 16, 8)}
CLASSES = 4


def _train(images, masks, *, steps: int, seed: int, batch: int = 8):
    """A tiny U-Net trained from scratch with AdamW and flips; returns (net, preprocessing)."""
    import torch

    from segscope.models import Preprocessing, create_model

    torch.manual_seed(seed)
    net = create_model("unet", encoder="resnet18", in_channels=3, num_classes=CLASSES, **TINY)
    pre = Preprocessing(3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), scale=255.0)
    x_all = torch.from_numpy(np.stack([pre.apply(im) for im in images]))
    y_all = torch.from_numpy(np.asarray(masks, dtype=np.int64))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.15)
    rng = np.random.default_rng(seed)
    net.train()
    for _ in range(steps):
        idx = torch.from_numpy(rng.choice(len(x_all), size=min(batch, len(x_all)), replace=False))
        x, y = x_all[idx], y_all[idx]
        if rng.random() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        if rng.random() < 0.5:
            x, y = x.flip(-2), y.flip(-2)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return net.eval(), pre


def _predict(net, pre, images):
    import torch

    with torch.inference_mode():
        x = torch.from_numpy(np.stack([pre.apply(im) for im in images]))
        return (
            torch.cat([net.predict(x[i : i + 32]) for i in range(0, len(x), 32)]).permute(0, 2, 3, 1).numpy()
        )


def _miou(masks, probs) -> float:
    from segscope.metrics.semantic import confusion_matrix, semantic_scores

    cm = confusion_matrix(np.asarray(masks), probs.argmax(-1), CLASSES)
    return float(semantic_scores(cm)["mean_iou"])


def run_strategy(data, test, strategy: str, *, seed: int, initial: int, batch: int, rounds: int, steps: int):
    from segscope.curation import acquisition_score, embed_images, select

    ids = list(data.ids)
    rng = np.random.default_rng(seed)
    labelled = sorted(rng.choice(len(ids), size=initial, replace=False).tolist())
    curve = []
    for r in range(rounds):
        t0 = time.time()
        net, pre = _train(data.images[labelled], data.masks[labelled], steps=steps, seed=seed * 100 + r)
        miou = _miou(test.masks, _predict(net, pre, test.images))
        curve.append({"labelled": len(labelled), "miou": miou, "seconds": time.time() - t0})
        print(f"  {strategy:18s} seed {seed} round {r}: {len(labelled):3d} labelled, mIoU {miou:.4f}")
        if r == rounds - 1:
            break
        pool = [i for i in range(len(ids)) if i not in set(labelled)]
        pool_ids = [ids[i] for i in pool]
        if strategy == "random":
            sel = select(pool_ids, budget=batch, strategy="random", seed=seed * 100 + r)
        else:
            probs = _predict(net, pre, data.images[pool])
            scores = [acquisition_score(p, measure="entropy", reduce="topk", top_k=0.1) for p in probs]
            emb = embed_images(list(data.images), method="model", model=(net, pre))
            sel = select(
                pool_ids, budget=batch, strategy="entropy-diversity", scores=scores, embeddings=emb,
                labelled=[ids[i] for i in labelled], all_ids=ids, candidates=3.0, seed=seed,
            )  # fmt: skip
        index = {s: k for k, s in enumerate(ids)}
        labelled = sorted(labelled + [index[s] for s in sel.ids])
    return curve


def _plot(summary, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from segscope.utils.files import atomic_path

    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    for strategy, rows in summary.items():
        n = [r["labelled"] for r in rows]
        m = np.array([r["mean"] for r in rows])
        s = np.array([r["std"] for r in rows])
        ax.plot(n, m, marker="o", label=strategy)
        ax.fill_between(n, m - s, m + s, alpha=0.2)
    ax.set_xlabel("labelled images")
    ax.set_ylabel("test mIoU")
    ax.set_title("Active learning on shapes (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", type=int, default=150, help="pool images (labels hidden)")
    parser.add_argument("--test", type=int, default=60, help="test images")
    parser.add_argument("--size", type=int, default=48, help="image side in pixels")
    parser.add_argument("--initial", type=int, default=10, help="random initial labelled set")
    parser.add_argument("--batch", type=int, default=10, help="images annotated per round")
    parser.add_argument("--rounds", type=int, default=5, help="training rounds (labelled sets)")
    parser.add_argument("--steps", type=int, default=100, help="optimiser steps per training")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON and the plot")
    args = parser.parse_args(argv)

    import torch

    from segscope.datasets.shapes import make_shapes_arrays
    from segscope.utils.files import write_json

    torch.set_num_threads(args.threads)
    data = make_shapes_arrays(args.pool, size=args.size, seed=11)
    test = make_shapes_arrays(args.test, size=args.size, seed=12)
    t0 = time.time()
    curves: dict[str, list[list[dict]]] = {"random": [], "entropy-diversity": []}
    for seed in range(args.seeds):
        for strategy in curves:
            curves[strategy].append(
                run_strategy(
                    data,
                    test,
                    strategy,
                    seed=seed,
                    initial=args.initial,
                    batch=args.batch,
                    rounds=args.rounds,
                    steps=args.steps,
                )  # fmt: skip
            )
    summary = {}
    for strategy, runs in curves.items():
        summary[strategy] = [
            {
                "labelled": runs[0][r]["labelled"],
                "mean": float(np.mean([c[r]["miou"] for c in runs])),
                "std": float(np.std([c[r]["miou"] for c in runs])),
            }
            for r in range(args.rounds)
        ]
    final_random = summary["random"][-1]["mean"]
    reach = next((r["labelled"] for r in summary["entropy-diversity"] if r["mean"] >= final_random), None)
    final_n = summary["random"][-1]["labelled"]
    print(f"\nshapes {args.size}x{args.size}, pool {args.pool}, test {args.test}, {args.seeds} seeds, "
          f"{args.steps} steps per training, {time.time() - t0:.0f} s")  # fmt: skip
    print("| labelled | random mIoU | entropy+diversity mIoU |")
    print("|---:|---:|---:|")
    for a, b in zip(summary["random"], summary["entropy-diversity"], strict=True):
        print(f"| {a['labelled']} | {a['mean']:.4f} ± {a['std']:.4f} | {b['mean']:.4f} ± {b['std']:.4f} |")
    if reach is None:
        print(
            f"entropy+diversity did not reach random's final mIoU {final_random:.4f} within {final_n} labels"
        )
    else:
        print(
            f"entropy+diversity reaches random's final mIoU {final_random:.4f} ({final_n} labels) with "
            f"{reach} labels = {reach / final_n:.0%} (goal <= 60%)"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(
        args.out / "active_learning.json",
        {"args": {k: str(v) for k, v in vars(args).items()}, "summary": summary, "curves": curves,
         "reach_labels": reach, "final_labels": final_n, "seconds": time.time() - t0},
    )  # fmt: skip
    _plot(summary, args.out / "active_learning.png")
    print(f"wrote {args.out / 'active_learning.json'} and {args.out / 'active_learning.png'}")


if __name__ == "__main__":
    main()
