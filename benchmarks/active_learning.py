"""Active learning on the shapes data and ISBI: mIoU against the number of labelled images.

Pool-based simulation: a pool of images whose masks stay hidden until an image is
"annotated", and a fixed held-out test set never used for selection. Each round refits the
learner from scratch on the labelled images (same hyper-parameters and seed for both
strategies), scores it on the test set, predicts the unlabelled pool and picks the next batch:

* ``random``: uniform (the baseline);
* ``entropy-diversity``: class-balanced top-k pixel entropy (each pixel's entropy weighted by
  the "balanced" weight of its predicted class in the labelled set, the top 10 % of pixels
  averaged: ``acquisition_score(..., class_weights=balanced_class_weights(...))``), the
  ``candidates * batch`` highest-scoring images shortlisted, then k-centre greedy on image
  embeddings (``segscope.curation.select``).

Both strategies start from the same random initial set for a given seed. The run starts by
printing each pool's composition (per class: units holding it, pixel share min/median/max).

Protocol (the pool is several times the final budget, so a strategy can actually choose):

* shapes: 300 pool images 64x64 with a long-tailed class mix (objects are ellipses 60 %,
  rectangles 33 %, triangles 7 %: ``make_shapes_arrays(class_probs=...)``; triangles are in
  95 of the 300 images and 0.6 % of the pixels), 60 test images from another seed; 4 initial,
  4 per round up to 36 (12 % of the pool).
* ISBI 2012: slices downscaled to 256x256 (membranes stay 2-3 px wide); the unit of
  annotation is a 64x64 tile (16 per slice). 20 slices give 320 pool tiles; the other 10
  whole slices are the test set. 8 initial tiles, 8 per round up to 64 (20 % of the pool).

Learners (``--shapes-learner``, ``--isbi-learner``):

* ``forest`` (shapes default): an extremely-randomised forest (scikit-learn
  ``ExtraTreesClassifier``) on fixed per-pixel filter-bank features (scikit-image
  ``feature.multiscale_basic_features``, computed on whole images before tiling);
* ``unet`` (ISBI default): a U-Net/ResNet-18 (slim decoder) trained from scratch each round by
  ``segscope.training.train`` (15 epochs of 256 samples, batch 16, light flips/rotations,
  ce+dice, cosine schedule, bfloat16 where the CPU has it), last checkpoint; pool images are
  predicted whole and cut into tiles. On ISBI the forest levels off near 0.715 mIoU after about
  24 tiles, so neither strategy can gain there; the U-Net keeps improving with more labels.

Diversity uses the weight-free image descriptor (``embed_images(method="descriptor")``).

Method choices (class-balanced roll-up, top-k share, shortlist size, shapes class mix) were
made with ``--dev``, which draws other shapes pool/test seeds and another ISBI test fold; the
U-Net learner's settings were fixed before its first full run, not tuned on these curves; the
reported numbers come from the default data, run once.

Reports mean and standard deviation over seeds per labelled-set size, a Markdown table, the
labels the active strategy needs to reach random's final mean mIoU (first measured size
where its mean is at least that, the same rule for every seed-level figure), a JSON file and
a plot.

Run:   .venv/bin/python benchmarks/active_learning.py            (shapes + ISBI, 5 seeds)
Quick: .venv/bin/python benchmarks/active_learning.py --seeds 2 --rounds 4 --datasets shapes --dev
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
STRATEGIES = ("random", "entropy-diversity")
SHAPES_CLASS_PROBS = (0.60, 0.33, 0.07)  # ellipse, rectangle, triangle: a long tail


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


def tiles(arr: np.ndarray, tile: int) -> np.ndarray:
    """(N * (H/t) * (W/t), t, t, ...) non-overlapping tiles of (N, H, W, ...) arrays, row-major."""
    n, h, w = arr.shape[:3]
    rest = arr.shape[3:]
    t = arr.reshape(n, h // tile, tile, w // tile, tile, *rest)
    t = np.moveaxis(t, 3, 2)  # (n, h/t, w/t, t, t, ...)
    return t.reshape(n * (h // tile) * (w // tile), tile, tile, *rest)


class PixelForest:
    """Extra-trees on ``pixels`` sampled pixels per labelled image (a fixed seed per fit)."""

    def __init__(self, num_classes: int, *, trees: int, pixels: int, seed: int) -> None:
        self.num_classes, self.trees, self.pixels, self.seed = num_classes, trees, pixels, seed

    def fit(self, feats: np.ndarray, masks: np.ndarray) -> PixelForest:
        from sklearn.ensemble import ExtraTreesClassifier

        rng = np.random.default_rng(self.seed)
        n, h, w, f = feats.shape
        idx = np.stack([rng.choice(h * w, size=min(self.pixels, h * w), replace=False) for _ in range(n)])
        x = np.take_along_axis(feats.reshape(n, h * w, f), idx[..., None], axis=1).reshape(-1, f)
        y = np.take_along_axis(masks.reshape(n, h * w), idx, axis=1).reshape(-1)
        self.model = ExtraTreesClassifier(
            n_estimators=self.trees, max_depth=16, min_samples_leaf=2, n_jobs=-1, random_state=self.seed
        ).fit(x, y)
        return self

    def predict(self, feats: np.ndarray) -> np.ndarray:
        """(N, H, W, C) probabilities (classes never seen in training get 0)."""
        n, h, w, f = feats.shape
        p = self.model.predict_proba(feats.reshape(-1, f))
        out = np.zeros((n * h * w, self.num_classes), np.float32)
        out[:, self.model.classes_] = p
        return out.reshape(n, h, w, self.num_classes)


class TileUNet:
    """A U-Net (smp, ResNet-18 encoder, slim decoder) trained from scratch on the labelled units
    by :func:`segscope.training.train` each round, the last checkpoint kept.

    Every fit sees the same number of samples (``samples`` per epoch, units repeated to fill it),
    so the training budget does not change with the labelled-set size; only the data does.
    """

    def __init__(self, num_classes: int, *, epochs: int, samples: int, seed: int, workdir: Path) -> None:
        self.num_classes, self.epochs, self.samples, self.seed = num_classes, epochs, samples, seed
        self.workdir = workdir

    def fit(self, images: np.ndarray, masks: np.ndarray) -> TileUNet:
        import shutil
        import tempfile

        from segscope.inference import Predictor
        from segscope.training import train

        data = arrays_dataset(images, masks, self.num_classes)
        out = Path(tempfile.mkdtemp(prefix="round_", dir=self.workdir))
        result = train(
            data, out / "run", val=data, model="unet", encoder="resnet18",
            model_kwargs={"encoder_depth": 4, "decoder_channels": [64, 32, 16, 16]},
            epochs=self.epochs, repeat=max(1, -(-self.samples // len(images))), batch_size=16, lr=2e-3,
            augment="light", loss="ce+dice", seed=self.seed, mlflow=False, overlays=0, progress_bar=False,
        )  # fmt: skip
        self.predictor = Predictor.load(result.last_checkpoint)
        shutil.rmtree(out)  # the model is in memory; a run folder per round would fill the disk
        return self

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W, C) probabilities of (N, H, W[, C]) images."""
        return np.stack([self.predictor.predict_probs(im) for im in images])


def arrays_dataset(images: np.ndarray, masks: np.ndarray, num_classes: int):
    """A segscope Dataset over in-memory arrays (ids u0000, u0001, ...)."""
    from segscope.core.classes import ClassMap
    from segscope.core.dataset import Dataset, Sample

    samples = [
        Sample(f"u{i:04d}", load_image=lambda im=im: im, load_mask=lambda m=m: m)
        for i, (im, m) in enumerate(zip(images, masks, strict=True))
    ]
    return Dataset(samples, ClassMap.default(num_classes))


def pool_composition(masks: np.ndarray, num_classes: int) -> str:
    """Per foreground class: how many pool units hold it and its pixel share per unit (min/median/max)."""
    share = np.stack([(masks == c).reshape(len(masks), -1).mean(1) for c in range(1, num_classes)], axis=1)
    return "; ".join(
        f"class {c}: in {(s > 0).sum()}/{len(s)} units, pixel share {s.min():.0%}/{np.median(s):.0%}/{s.max():.0%}"
        for c, s in enumerate(share.T, start=1)
    )


def _miou(masks: np.ndarray, probs: np.ndarray, num_classes: int) -> float:
    from segscope.metrics.semantic import confusion_matrix, semantic_scores

    cm = confusion_matrix(np.asarray(masks), probs.argmax(-1), num_classes)
    return float(semantic_scores(cm)["mean_iou"])


def acquire(
    bench: dict,
    probs: np.ndarray,
    labelled: list[int],
    pool: list[int],
    *,
    args: argparse.Namespace,
    seed: int,
) -> list[int]:
    """Indices (into the pool arrays) of the next batch by class-balanced entropy + diversity;
    ``probs`` are the model's probabilities of the ``pool`` units."""
    from segscope.curation import acquisition_score, balanced_class_weights, select

    ids, k = bench["ids"], bench["num_classes"]
    weights = balanced_class_weights(bench["masks"][labelled], k) if args.balanced else None
    scores = [
        acquisition_score(p, measure="entropy", reduce="topk", top_k=args.top_k, class_weights=weights)
        for p in probs
    ]
    sel = select(
        [ids[i] for i in pool], budget=bench["batch"], strategy="entropy-diversity", scores=scores,
        embeddings=bench["emb"], labelled=[ids[i] for i in labelled], all_ids=ids,
        candidates=args.candidates, seed=seed,
    )  # fmt: skip
    index = {s: j for j, s in enumerate(ids)}
    return [index[s] for s in sel.ids]


def fit_and_predict(bench: dict, labelled: list[int], *, seed: int, args: argparse.Namespace):
    """Refit the learner on the labelled units; (test probabilities, probabilities of every unit).

    Fits are deterministic given the labelled set and the seed, so the shared initial round is
    fitted once per seed and reused by the second strategy.
    """
    if len(labelled) != bench["initial"]:
        return _fit_and_predict(bench, labelled, seed=seed, args=args)
    fits = bench.setdefault("initial_fits", {})
    key = (seed, tuple(labelled))
    if key not in fits:
        fits[key] = _fit_and_predict(bench, labelled, seed=seed, args=args)
    return fits[key]


def _fit_and_predict(bench: dict, labelled: list[int], *, seed: int, args: argparse.Namespace):
    k, learner = bench["num_classes"], bench["learner"]
    if learner == "forest":
        model = PixelForest(k, trees=args.trees, pixels=args.pixels, seed=seed)
        model.fit(bench["feats"][labelled], bench["masks"][labelled])
        return model.predict(bench["test_feats"]), model.predict(bench["feats"])
    net = TileUNet(k, epochs=args.unet_epochs, samples=args.unet_samples, seed=seed, workdir=args.workdir)
    net.fit(bench["images"][labelled], bench["masks"][labelled])
    # Units are tiles of the pool images: predict whole images (context at tile borders), then cut.
    full = net.predict(bench["full"])
    units = full if bench["tile"] is None else tiles(full, bench["tile"])
    return net.predict(bench["test_images"]), units


def run_strategy(bench: dict, strategy: str, *, seed: int, args: argparse.Namespace) -> list[dict]:
    from segscope.curation import select

    ids, k = bench["ids"], bench["num_classes"]
    rng = np.random.default_rng(seed)  # the same initial set for every strategy
    labelled = sorted(rng.choice(len(ids), size=bench["initial"], replace=False).tolist())
    curve = []
    for r in range(bench["rounds"]):
        t0 = time.time()
        # Refit from scratch every round, same hyper-parameters and seed for both strategies.
        test_probs, unit_probs = fit_and_predict(bench, labelled, seed=seed, args=args)
        miou = _miou(bench["test_masks"], test_probs, k)
        curve.append({"labelled": len(labelled), "miou": miou, "seconds": time.time() - t0})
        print(
            f"  {bench['name']:6s} {strategy:18s} seed {seed} round {r}: {len(labelled):3d} labelled, mIoU {miou:.4f}",
            flush=True,
        )
        if r == bench["rounds"] - 1:
            break
        taken = set(labelled)
        pool = [i for i in range(len(ids)) if i not in taken]
        if strategy == "random":
            sel = select(
                [ids[i] for i in pool], budget=bench["batch"], strategy="random", seed=seed * 100 + r
            )
            index = {s: j for j, s in enumerate(ids)}
            new = [index[s] for s in sel.ids]
        else:
            new = acquire(bench, unit_probs[pool], labelled, pool, args=args, seed=seed)
        labelled = sorted(labelled + new)
    return curve


def _reach(curve: list[float], sizes: list[int], target: float) -> int | None:
    """First labelled-set size whose mIoU is at least ``target`` (None: never)."""
    return next((n for n, m in zip(sizes, curve, strict=True) if m >= target), None)


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
        ax.axhline(res["summary"]["random"][-1]["mean"], color="grey", lw=0.8, ls="--", label="random, final")
        ax.set_xlabel(f"labelled {res['unit']}s (pool {res['pool']})")
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

    seeds = (21, 22) if args.dev else (11, 12)
    pool = make_shapes_arrays(args.pool, size=args.size, seed=seeds[0], class_probs=SHAPES_CLASS_PROBS)
    test = make_shapes_arrays(args.test, size=args.size, seed=seeds[1], class_probs=SHAPES_CLASS_PROBS)
    forest = args.shapes_learner == "forest"
    return {
        "name": "shapes", "unit": "image", "ids": list(pool.ids), "images": pool.images, "masks": pool.masks,
        "full": pool.images, "tile": None, "test_images": test.images, "test_masks": test.masks,
        "feats": pixel_features(pool.images) if forest else None,
        "test_feats": pixel_features(test.images) if forest else None, "learner": args.shapes_learner,
        "num_classes": 4, "initial": args.initial, "batch": args.batch, "rounds": args.rounds,
    }  # fmt: skip


def _load_isbi(args: argparse.Namespace) -> dict:
    """ISBI 2012 membranes (membrane = class 1) at 256x256: 64x64 pool tiles from 20 slices, 10 test slices."""
    import cv2

    from segscope.formats.files import read_image, read_mask

    root, side, t = args.data / "isbi2012_membrane", 256, args.tile
    files = sorted((root / "images").glob("*.png"), key=lambda f: int(f.stem) if f.stem.isdigit() else f.stem)
    imgs = np.stack([cv2.resize(read_image(f), (side, side), interpolation=cv2.INTER_AREA) for f in files])
    masks = np.stack(
        [(cv2.resize(read_mask(root / "masks" / f.name), (side, side), interpolation=cv2.INTER_NEAREST) == 0)
         .astype(np.int64) for f in files]
    )  # fmt: skip
    forest = args.isbi_learner == "forest"
    feats = pixel_features(imgs) if forest else None
    test = np.arange(len(files)) % 3 == (0 if args.dev else 2)  # every third slice: 10 test, 20 pool
    per = (side // t) ** 2
    ids = [
        f"{f.stem}_{j:02d}" for f, is_test in zip(files, test, strict=True) if not is_test for j in range(per)
    ]
    return {
        "name": "isbi", "unit": f"{t}x{t} tile", "ids": ids, "images": tiles(imgs[~test], t),
        "masks": tiles(masks[~test], t), "full": imgs[~test], "tile": t, "test_images": imgs[test],
        "feats": tiles(feats[~test], t) if forest else None, "test_masks": masks[test],
        "test_feats": feats[test] if forest else None, "learner": args.isbi_learner, "num_classes": 2,
        "initial": args.isbi_initial, "batch": args.isbi_batch, "rounds": args.isbi_rounds,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="shapes,isbi", help="comma-separated: shapes, isbi")
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding isbi2012_membrane")
    parser.add_argument("--dev", action="store_true", help="development data (other seeds / ISBI fold)")
    parser.add_argument("--pool", type=int, default=300, help="shapes: pool images (labels hidden)")
    parser.add_argument("--test", type=int, default=60, help="shapes: test images")
    parser.add_argument("--size", type=int, default=64, help="shapes: image side in pixels")
    parser.add_argument("--initial", type=int, default=4, help="shapes: random initial labelled set")
    parser.add_argument("--batch", type=int, default=4, help="shapes: images annotated per round")
    parser.add_argument("--rounds", type=int, default=9, help="shapes: rounds (labelled-set sizes)")
    parser.add_argument(
        "--tile", type=int, default=64, help="isbi: tile side at 256x256 (unit of annotation)"
    )
    parser.add_argument("--isbi-initial", type=int, default=8, help="isbi: random initial tiles")
    parser.add_argument("--isbi-batch", type=int, default=8, help="isbi: tiles annotated per round")
    parser.add_argument("--isbi-rounds", type=int, default=8, help="isbi: rounds")
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds")
    parser.add_argument("--shapes-learner", choices=("forest", "unet"), default="forest")
    parser.add_argument("--isbi-learner", choices=("forest", "unet"), default="unet")
    parser.add_argument("--unet-epochs", type=int, default=15, help="unet learner: epochs per fit")
    parser.add_argument(
        "--unet-samples", type=int, default=256, help="unet learner: samples per epoch (units repeated)"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="unet learner: run folders (default: a temp dir)"
    )
    parser.add_argument("--trees", type=int, default=40, help="trees per forest")
    parser.add_argument("--pixels", type=int, default=1000, help="training pixels per labelled image or tile")
    parser.add_argument("--top-k", type=float, default=0.1, help="share of most uncertain pixels averaged")
    parser.add_argument(
        "--balanced", action=argparse.BooleanOptionalAction, default=True,
        help="weight pixel entropy by the balanced weight of the predicted class",
    )  # fmt: skip
    parser.add_argument(
        "--candidates", type=float, default=3.0, help="entropy shortlist = candidates x batch"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON and the plot")
    args = parser.parse_args(argv)

    import tempfile

    from segscope.curation import embed_images
    from segscope.utils.files import write_json

    t_all = time.time()
    if args.workdir is None:
        args.workdir = Path(tempfile.mkdtemp(prefix="segscope_al_"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        t0 = time.time()
        bench = {"shapes": _load_shapes, "isbi": _load_isbi}[name](args)
        print(f"{name} pool: {pool_composition(bench['masks'], bench['num_classes'])}", flush=True)
        bench["emb"] = embed_images(list(bench["images"]))
        curves = {
            s: [run_strategy(bench, s, seed=seed, args=args) for seed in range(args.seeds)]
            for s in STRATEGIES
        }
        summary = _summary(curves, bench["rounds"])
        sizes = [r["labelled"] for r in summary["random"]]
        final_random, final_n = summary["random"][-1]["mean"], sizes[-1]
        reach = _reach([r["mean"] for r in summary["entropy-diversity"]], sizes, final_random)
        # Per seed: labels each strategy needs to reach that seed's own random final mIoU.
        per_seed = {
            s: [
                _reach([c["miou"] for c in run], sizes, curves["random"][j][-1]["miou"])
                for j, run in enumerate(runs)
            ]
            for s, runs in curves.items()
        }
        results[name] = {
            "summary": summary, "curves": curves, "reach_labels": reach, "final_labels": final_n,
            "reach_share": None if reach is None else reach / final_n, "reach_per_seed": per_seed,
            "unit": bench["unit"], "seeds": args.seeds, "pool": len(bench["ids"]), "test": len(bench["test_masks"]),
            "seconds": time.time() - t0,
        }  # fmt: skip
        h, w = bench["masks"].shape[1:]
        print(f"\n{name}: {bench['unit']}s {h}x{w}, pool {len(bench['ids'])}, test {len(bench['test_masks'])}, "
              f"{args.seeds} seeds, {time.time() - t0:.0f} s")  # fmt: skip
        print(f"| labelled {bench['unit']}s | random mIoU | entropy+diversity mIoU |")
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
        print(f"per seed, labels to reach that seed's random final: {per_seed['entropy-diversity']}")
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
