"""COCO mask AP: segscope vs pycocotools and faster-coco-eval on a synthetic COCO-density set.

Run ``python benchmarks/coco_bench.py`` (``--quick`` for a small set). Every library gets
the same in-memory COCO ground-truth dict and results list (deep-copied before timing,
because both reference libraries modify their input) and runs load + evaluate + accumulate +
summarize; times are the best of ``repeat`` runs. ``identical`` means all 12 stats agree to
1e-12 with the reference.
"""

from __future__ import annotations

import contextlib
import copy
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from segscope.metrics._coco_synth import synthetic_instances, to_coco_json
from segscope.metrics.instance import coco_evaluate, dsb_score

__all__ = ["coco_rows"]


def _best(fn: Callable[[], Any], make_args: Callable[[], tuple], repeat: int) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeat):
        args = make_args()
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, out


def _pycocotools(gt_json: dict, results: list, iou_type: str = "segm") -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_json
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def _faster_coco_eval(gt_json: dict, results: list, iou_type: str = "segm") -> np.ndarray:
    import faster_coco_eval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = faster_coco_eval.COCO(gt_json)
        dt = gt.loadRes(results)
        ev = faster_coco_eval.COCOeval_faster(gt, dt, iou_type, print_function=lambda *a: None)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats[:12])


def coco_rows(*, quick: bool = False, repeat: int | None = None) -> list[dict[str, Any]]:
    """Time segscope's ``coco_evaluate`` against the reference libraries.

    Returns rows with keys ``benchmark, ours_s, peer, peer_s, ratio, identical``
    (``ratio = ours_s / peer_s``).
    """
    n_images, size = (60, 128) if quick else (500, 256)
    repeat = repeat or (2 if quick else 3)
    gt, dt = synthetic_instances(n_images, height=size, width=size, gt_per_image=7, dt_per_image=100, seed=0)
    gt_json, results = to_coco_json(gt, dt)
    name = f"segm AP, {n_images} imgs {size}x{size}, {len(gt_json['annotations'])} gt, {len(results)} dt"

    def args() -> tuple:
        return copy.deepcopy(gt_json), copy.deepcopy(results)

    ours_s, ours = _best(lambda g, r: np.asarray(coco_evaluate(g, r)["stats"]), args, repeat)
    rows = []
    for peer, fn in (("pycocotools", _pycocotools), ("faster-coco-eval", _faster_coco_eval)):
        peer_s, ref = _best(fn, args, repeat)
        rows.append(
            {
                "benchmark": name,
                "ours_s": ours_s,
                "peer": peer,
                "peer_s": peer_s,
                "ratio": ours_s / peer_s,
                "identical": bool(np.allclose(ours, ref, rtol=0, atol=1e-12)),
            }
        )

    # Boundary AP against faster-coco-eval's boundary mode (same authors' definition), on a
    # smaller set: every mask's boundary is computed, which dominates the time.
    nb = 30 if quick else 100
    bgt, bdt = synthetic_instances(nb, height=size, width=size, seed=1)
    bgj, bres = to_coco_json(bgt, bdt)

    def bargs() -> tuple:
        return copy.deepcopy(bgj), copy.deepcopy(bres)

    ours_b, ours_bs = _best(
        lambda g, r: np.asarray(coco_evaluate(g, r, iou_type="boundary")["stats"]), bargs, 1
    )
    peer_b, ref_b = _best(lambda g, r: _faster_coco_eval(g, r, "boundary"), bargs, 1)
    rows.append(
        {
            "benchmark": f"boundary AP, {nb} imgs {size}x{size}, {len(bres)} dt",
            "ours_s": ours_b,
            "peer": "faster-coco-eval",
            "peer_s": peer_b,
            "ratio": ours_b / peer_b,
            "identical": bool(np.allclose(ours_bs, ref_b, rtol=0, atol=1e-12)),
        }
    )
    rows.extend(_dsb_rows(quick=quick))
    return rows


DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _dsb_rows(*, quick: bool, data: Path = DATA) -> list[dict[str, Any]]:
    """Real data: DSB2018 stage-1 test nuclei vs an Otsu + connected-components baseline."""
    folder = data / "dsb2018_stage1_test"
    if not (folder / "masks").is_dir():
        return []
    from skimage.color import rgb2gray
    from skimage.filters import threshold_otsu
    from skimage.measure import label

    from segscope.core.instances import Instances
    from segscope.formats.files import read_image, read_mask

    paths = sorted((folder / "masks").glob("*.png"))[: 10 if quick else None]
    gt, dt = {}, {}
    for n, path in enumerate(paths, start=1):
        gt[n] = Instances.from_id_map(read_mask(path).astype(np.int64))
        gray = rgb2gray(read_image(folder / "images" / path.name)[..., :3])
        fg = gray > threshold_otsu(gray)
        if fg.mean() > 0.5:  # bright-field images: nuclei are dark
            fg = ~fg
        ids = label(fg)
        inst = Instances.from_id_map(ids)
        # Score: mean contrast of the object, so detections are ranked by something real.
        means = np.bincount(ids.ravel(), weights=gray.ravel())[1:] / np.maximum(
            np.bincount(ids.ravel())[1:], 1
        )
        dt[n] = Instances(inst.rles, inst.labels, inst.height, inst.width, np.abs(means - gray.mean()))
    gt_json, results = to_coco_json(gt, dt, num_classes=1)
    ours_s, ours = _best(lambda g, r: np.asarray(coco_evaluate(g, r)["stats"]), lambda: (gt_json, results), 3)
    peer_s, ref = _best(
        _pycocotools, lambda: (copy.deepcopy(gt_json), copy.deepcopy(results)), 1 if quick else 2
    )
    row = {
        "benchmark": f"segm AP, DSB2018 {len(paths)} imgs, {len(gt_json['annotations'])} gt, Otsu+CC dt "
        f"(AP={ours[0]:.3f}, DSB={dsb_score(gt, dt):.3f})",
        "ours_s": ours_s,
        "peer": "pycocotools",
        "peer_s": peer_s,
        "ratio": ours_s / peer_s,
        "identical": bool(np.allclose(ours, ref, rtol=0, atol=1e-12)),
    }
    return [row]


def main(argv: list[str] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    argv = sys.argv[1:] if argv is None else argv
    rows = coco_rows(quick="--quick" in argv)
    table = Table(title="COCO evaluation: segscope vs peers (best of repeats, seconds)")
    for col in ("benchmark", "ours_s", "peer", "peer_s", "ratio", "identical"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["benchmark"],
            f"{r['ours_s']:.3f}",
            r["peer"],
            f"{r['peer_s']:.3f}",
            f"{r['ratio']:.2f}",
            str(r["identical"]),
        )
    Console().print(table)


if __name__ == "__main__":
    main()
