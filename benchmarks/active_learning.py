"""Active learning on the shapes data (and ISBI): mIoU against the number of labelled images.

Pool-based simulation: a pool of images whose masks are hidden until an image is
"annotated". Each round fits a per-pixel classifier on the labelled images, scores it on a
fixed test set, predicts the unlabelled pool and picks the next batch with

* ``random``: uniform (the baseline);
* ``entropy-diversity``: the ``candidates * batch`` images of highest top-k pixel entropy,
  then k-centre greedy on image embeddings (``segscope.curation.select``).

The learner is a random forest (scikit-learn) on fixed per-pixel filter-bank features
(scikit-image ``feature.multiscale_basic_features``: intensity, edges and texture at several
scales). An earlier version trained a tiny U-Net from scratch each round; its curves were
dominated by training noise (std up to 0.2 mIoU, mIoU not rising with more labels). The
forest on fixed features is deterministic given the seed and converges on every round, so
the curves measure the data, not the optimiser. Diversity uses the weight-free image
descriptor (``embed_images(method="descriptor")``), also fixed across rounds.

Several seeds (different initial labelled sets, forests and random draws); reports mean and
standard deviation per labelled-set size, a Markdown table, the labels the active strategy
needs to reach random's final mIoU, a JSON file and a plot.

Run:   .venv/bin/python benchmarks/active_learning.py            (shapes + ISBI, ~10 min on 2 cores)
Quick: .venv/bin/python benchmarks/active_learning.py --seeds 2 --rounds 3 --datasets shapes
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
STRATEGIES = ("random", "entropy-diversity")


def pixel_features(images: np.ndarray) -> np.ndarray:
    """(N, H, W, F) float32 filter-bank features of (N, H, W[, C]) images."""
    from skimage.feature import multiscale_basic_features

    from segscope.utils.progress import progress

    multichannel = images.ndim == 4
    out = [
        multiscale_basic_features(
            im.astype(np.float32) / 255.0, channel_axis=-1 if multichannel else None, sigma_min=1, sigma_max=8
        ).astype(np.float32)
        for im in progress(images, total=len(images), desc="features")
    ]
    return np.stack(out)


class PixelForest:
    """Random forest on ``pixels`` sampled pixels per labelled image (a fixed seed per fit)."""

    def __init__(self, num_classes: int, *, trees: int, pixels: int, seed: int) -> None:
        self.num_classes, self.trees, self.pixels, self.seed = num_classes, trees, pixels, seed

    def fit(self, feats: np.ndarray, masks: np.ndarray) -> PixelForest:
        from sklearn.ensemble import RandomForestClassifier

        rng = np.random.default_rng(self.seed)
        n, h, w, f = feats.shape
        idx = np.stack([rng.choice(h * w, size=min(self.pixels, h * w), replace=False) for _ in range(n)])
        x = np.take_along_axis(feats.reshape(n, h * w, f), idx[..., None], axis=1).reshape(-1, f)
        y = np.take_along_axis(masks.reshape(n, h * w), idx, axis=1).reshape(-1)
        self.model = RandomForestClassifier(
            n_estimators=self.trees, max_depth=14, min_samples_leaf=2, n_jobs=-1, random_state=self.seed
        ).fit(x, y)
        return self

    def predict(self, feats: np.ndarray) -> np.ndarray:
        """(N, H, W, C) probabilities (classes never seen in training get 0)."""
        n, h, w, f = feats.shape
        p = self.model.predict_proba(feats.reshape(-1, f))
        out = np.zeros((n * h * w, self.num_classes), np.float32)
        out[:, self.model.classes_] = p
        return out.reshape(n, h, w, self.num_classes)


def _miou(masks: np.ndarray, probs: np.ndarray, num_classes: int) -> float:
    from segscope.metrics.semantic import confusion_matrix, semantic_scores

    cm = confusion_matrix(np.asarray(masks), probs.argmax(-1), num_classes)
    return float(semantic_scores(cm)["mean_iou"])


def run_strategy(bench: dict, strategy: str, *, seed: int, args: argparse.Namespace) -> list[dict]:
    from segscope.curation import acquisition_score, select

    ids, feats, masks, k = bench["ids"], bench["feats"], bench["masks"], bench["num_classes"]
    rng = np.random.default_rng(seed)
    labelled = sorted(rng.choice(len(ids), size=bench["initial"], replace=False).tolist())
    curve = []
    for r in range(bench["rounds"]):
        t0 = time.time()
        model = PixelForest(k, trees=args.trees, pixels=args.pixels, seed=seed).fit(
            feats[labelled], masks[labelled]
        )
        miou = _miou(bench["test_masks"], model.predict(bench["test_feats"]), k)
        curve.append({"labelled": len(labelled), "miou": miou, "seconds": time.time() - t0})
        print(
            f"  {bench['name']:6s} {strategy:18s} seed {seed} round {r}: {len(labelled):3d} labelled, mIoU {miou:.4f}"
        )
        if r == bench["rounds"] - 1:
            break
        taken = set(labelled)
        pool = [i for i in range(len(ids)) if i not in taken]
        pool_ids = [ids[i] for i in pool]
        if strategy == "random":
            sel = select(pool_ids, budget=bench["batch"], strategy="random", seed=seed * 100 + r)
        else:
            probs = model.predict(feats[pool])
            scores = [acquisition_score(p, measure="entropy", reduce="topk", top_k=0.1) for p in probs]
            sel = select(
                pool_ids, budget=bench["batch"], strategy="entropy-diversity", scores=scores,
                embeddings=bench["emb"], labelled=[ids[i] for i in labelled], all_ids=ids,
                candidates=args.candidates, seed=seed,
            )  # fmt: skip
        index = {s: j for j, s in enumerate(ids)}
        labelled = sorted(labelled + [index[s] for s in sel.ids])
    return curve


def _summary(curves: dict[str, list[list[dict]]], rounds: int) -> dict[str, list[dict]]:
    return {
        s: [
            {
                "labelled": runs[0][r]["labelled"],
                "mean": float(np.mean([c[r]["miou"] for c in runs])),
                "std": float(np.std([c[r]["miou"] for c in runs])),
            }
            for r in range(rounds)
        ]
        for s, runs in curves.items()
    }


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from segscope.utils.files import atomic_path

    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 3.8), dpi=120, squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items(), strict=True):
        for strategy, rows in res["summary"].items():
            n = [r["labelled"] for r in rows]
            m = np.array([r["mean"] for r in rows])
            s = np.array([r["std"] for r in rows])
            ax.plot(n, m, marker="o", label=strategy)
            ax.fill_between(n, m - s, m + s, alpha=0.2)
        ax.set_xlabel("labelled images")
        ax.set_ylabel("test mIoU")
        ax.set_title(f"{name} ({res['seeds']} seeds, mean ± std)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _load_shapes(args: argparse.Namespace) -> dict:
    from segscope.datasets.shapes import make_shapes_arrays

    pool = make_shapes_arrays(args.pool, size=args.size, seed=11)
    test = make_shapes_arrays(args.test, size=args.size, seed=12)
    return {
        "name": "shapes", "ids": list(pool.ids), "images": pool.images, "masks": pool.masks,
        "test_images": test.images, "test_masks": test.masks, "num_classes": 4,
        "initial": args.initial, "batch": args.batch, "rounds": args.rounds,
    }  # fmt: skip


def _load_isbi(args: argparse.Namespace) -> dict:
    """ISBI 2012 membranes: 30 images, 512x512 downscaled to 128 (membrane = class 1), 10 test images."""
    import cv2

    from segscope.formats.files import read_image, read_mask

    root = args.data / "isbi2012_membrane"
    files = sorted((root / "images").glob("*.png"))
    imgs = np.stack([cv2.resize(read_image(f), (128, 128), interpolation=cv2.INTER_AREA) for f in files])
    masks = np.stack(
        [(cv2.resize(read_mask(root / "masks" / f.name), (128, 128), interpolation=cv2.INTER_NEAREST) == 0)
         .astype(np.int64) for f in files]
    )  # fmt: skip
    test = np.arange(len(files)) % 3 == 2  # every third image: 10 test, 20 pool
    return {
        "name": "isbi", "ids": [f.stem for f, t in zip(files, test, strict=True) if not t],
        "images": imgs[~test], "masks": masks[~test], "test_images": imgs[test], "test_masks": masks[test],
        "num_classes": 2, "initial": 2, "batch": 2, "rounds": 5,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="shapes,isbi", help="comma-separated: shapes, isbi")
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding isbi2012_membrane")
    parser.add_argument("--pool", type=int, default=150, help="shapes: pool images (labels hidden)")
    parser.add_argument("--test", type=int, default=40, help="shapes: test images")
    parser.add_argument("--size", type=int, default=64, help="shapes: image side in pixels")
    parser.add_argument("--initial", type=int, default=4, help="shapes: random initial labelled set")
    parser.add_argument("--batch", type=int, default=4, help="shapes: images annotated per round")
    parser.add_argument("--rounds", type=int, default=6, help="shapes: rounds (labelled-set sizes)")
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds")
    parser.add_argument("--trees", type=int, default=40, help="trees per forest")
    parser.add_argument("--pixels", type=int, default=1500, help="training pixels per labelled image")
    parser.add_argument(
        "--candidates", type=float, default=3.0, help="entropy shortlist = candidates x batch"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON and the plot")
    args = parser.parse_args(argv)

    from segscope.curation import embed_images
    from segscope.utils.files import write_json

    t_all = time.time()
    results: dict[str, dict] = {}
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        bench = {"shapes": _load_shapes, "isbi": _load_isbi}[name](args)
        t0 = time.time()
        bench["feats"] = pixel_features(bench["images"])
        bench["test_feats"] = pixel_features(bench["test_images"])
        bench["emb"] = embed_images(list(bench["images"]))
        curves = {
            s: [run_strategy(bench, s, seed=seed, args=args) for seed in range(args.seeds)]
            for s in STRATEGIES
        }
        summary = _summary(curves, bench["rounds"])
        final_random, final_n = summary["random"][-1]["mean"], summary["random"][-1]["labelled"]
        reach = next((r["labelled"] for r in summary["entropy-diversity"] if r["mean"] >= final_random), None)
        results[name] = {
            "summary": summary, "curves": curves, "reach_labels": reach, "final_labels": final_n,
            "seeds": args.seeds, "pool": len(bench["ids"]), "test": len(bench["test_masks"]),
            "seconds": time.time() - t0,
        }  # fmt: skip
        h, w = bench["masks"].shape[1:]
        print(f"\n{name} {h}x{w}, pool {len(bench['ids'])}, test {len(bench['test_masks'])}, "
              f"{args.seeds} seeds, {time.time() - t0:.0f} s")  # fmt: skip
        print("| labelled | random mIoU | entropy+diversity mIoU |")
        print("|---:|---:|---:|")
        for a, b in zip(summary["random"], summary["entropy-diversity"], strict=True):
            print(
                f"| {a['labelled']} | {a['mean']:.4f} ± {a['std']:.4f} | {b['mean']:.4f} ± {b['std']:.4f} |"
            )
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
        {
            "args": {k: str(v) for k, v in vars(args).items()},
            "results": results,
            "seconds": time.time() - t_all,
        },
    )
    _plot(results, args.out / "active_learning.png")
    print(
        f"wrote {args.out / 'active_learning.json'} and {args.out / 'active_learning.png'} ({time.time() - t_all:.0f} s)"
    )


if __name__ == "__main__":
    main()
