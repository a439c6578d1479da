"""Vectorised COCO evaluation engine: pycocotools' ``COCOeval`` semantics, NumPy speed.

pycocotools spends most of its time in Python loops: ``evaluateImg`` walks every
(image, category, area range, IoU threshold, detection, ground truth) combination, and
``accumulate`` concatenates per-image dicts for every (category, area, maxDets) cell.
Neither pycocotools nor faster-coco-eval exposes a NumPy-level matcher we could call, so this
module re-implements those two steps by hand (IoUs still come from ``pycocotools.mask.iou``,
unchanged), keeping every tie-breaking rule so the numbers are bit-for-bit the same:

* detections of an (image, category) pair are sorted by score with a stable mergesort and
  cut at ``max(max_dets)``;
* the greedy matcher visits detections in that order; for each one it prefers unmatched,
  non-ignored ground truth, takes the *last* ground truth reaching the best IoU (pycocotools
  replaces the running best on ``>=``), falls back to ignored ground truth only when no
  regular one qualifies, and lets crowd ground truth match many detections;
* ``accumulate`` orders detections by a stable sort of score over the concatenation of images
  in id order, uses the 101-point interpolated precision and ``searchsorted(side="left")``.

The greedy matcher is sequential over the detections of one (image, category), so the loop
here runs over detection *rank* (at most ``max(max_dets)`` steps) while every step is
vectorised over all (image, category) pairs, area ranges and IoU thresholds at once.
Detections whose best IoU is below every threshold can never match and are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Table", "Params", "evaluate_table", "summarize"]

_EPS = np.spacing(1)


@dataclass
class Params:
    """Evaluation settings (pycocotools ``Params`` for ``iouType="segm"``)."""

    iou_thrs: np.ndarray
    rec_thrs: np.ndarray
    max_dets: list[int]
    area_rng: np.ndarray  # (A, 2)
    area_lbl: list[str]


@dataclass
class Table:
    """Flat arrays describing one evaluation: images, categories, gt and dt objects.

    ``*_img`` index ``image_ids``; ``*_cat`` index ``cat_ids``; objects whose category is
    not in ``cat_ids`` must already be removed. ``*_rles`` are compressed RLE dicts.
    """

    image_ids: list[Any]
    cat_ids: list[Any]
    g_img: np.ndarray
    g_cat: np.ndarray
    g_area: np.ndarray
    g_crowd: np.ndarray
    g_id: np.ndarray
    g_rles: list[dict[str, Any]]
    d_img: np.ndarray
    d_cat: np.ndarray
    d_score: np.ndarray
    d_area: np.ndarray
    d_id: np.ndarray
    d_rles: list[dict[str, Any]]


IouFn = Callable[[list[int], list[int], np.ndarray], np.ndarray]
"""``iou_fn(dt_indices, gt_indices, gt_crowd) -> (D, G)`` IoU matrix (indices into the table)."""


def _segments(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique values of a sorted key array with their start and end offsets."""
    if keys.size == 0:
        e = np.zeros(0, np.int64)
        return e, e, e
    change = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [keys.size]])
    return keys[starts], starts, ends


def _match(
    ious: list[np.ndarray],
    g_ig: list[np.ndarray],
    g_crowd: list[np.ndarray],
    thr: np.ndarray,
) -> list[np.ndarray]:
    """Greedy COCO matching for many (image, category) units at once.

    Parameters
    ----------
    ious : list of (D_u, G_u) float arrays
        IoUs of the (relevant) detections of each unit, detections in score order.
    g_ig : list of (A, G_u) bool arrays
        Ignore flag of each ground truth per area range.
    g_crowd : list of (G_u,) bool arrays
    thr : (T,) float
        Thresholds already clamped to ``1 - 1e-10``.

    Returns
    -------
    list of (A, T, D_u) int arrays
        Index of the matched ground truth within the unit, or -1.
    """
    out: list[np.ndarray] = [None] * len(ious)  # type: ignore[list-item]
    if not ious:
        return out
    A = g_ig[0].shape[0]
    T = thr.size
    g_sizes = np.array([x.shape[1] for x in ious])
    d_sizes = np.array([x.shape[0] for x in ious])
    # Pad ground truth to powers of two so that a few crowded images do not blow up the rest.
    g_pad = 1 << np.ceil(np.log2(np.maximum(g_sizes, 1))).astype(np.int64)
    for gp in np.unique(g_pad):
        members = np.flatnonzero(g_pad == gp)
        members = members[np.argsort(-d_sizes[members], kind="stable")]
        n = members.size
        dmax = int(d_sizes[members[0]])
        gp = int(gp)
        iou = np.full((n, dmax, gp), -1.0)
        ig = np.zeros((n, A, 1, gp), bool)
        crowd = np.zeros((n, gp), bool)
        for j, u in enumerate(members):
            d, g = ious[u].shape
            iou[j, :d, :g] = ious[u]
            ig[j, :, 0, :g] = g_ig[u]
            crowd[j, :g] = g_crowd[u]
        # Number of units still having a detection at rank r (units sorted by size, descending).
        active = np.searchsorted(-d_sizes[members], -np.arange(dmax), side="left")
        matched = np.zeros((n, A, T, gp), bool)
        res = np.full((n, A, T, dmax), -1, np.int64)
        th = thr[None, None, :, None]
        flip = np.arange(gp - 1, -1, -1)
        for r in range(dmax):
            k = int(active[r])
            v = iou[:k, r, :][:, None, None, :]  # (k, 1, 1, G)
            ok = (v >= th) & ~matched[:k]
            ok_reg = ok & ~ig[:k]
            has_reg = ok_reg.any(-1, keepdims=True)
            cand = np.where(has_reg, ok_reg, ok)
            found = cand.any(-1)
            # The last ground truth reaching the best IoU wins, as in pycocotools.
            score = np.where(cand, v, -2.0)[..., flip]
            m = gp - 1 - score.argmax(-1)
            res[:k, :, :, r] = np.where(found, m, -1)
            sel = found & ~crowd[np.arange(k)[:, None, None], m]
            uu, aa, tt = np.nonzero(sel)
            matched[uu, aa, tt, m[uu, aa, tt]] = True
        for j, u in enumerate(members):
            out[u] = res[j, :, :, : d_sizes[u]]
    return out


def _accumulate_cell(
    tps: np.ndarray,
    fps: np.ndarray,
    score: np.ndarray,
    npig: np.ndarray,
    rec_thrs: np.ndarray,
    v_cache: dict[int, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision (T, R, A), recall (T, A), scores (T, R, A) of one (category, maxDets) cell.

    ``tps``/``fps`` are ``(A, T, n)`` flags of the cell's detections in accumulation order.
    pycocotools computes ``pr = tp / (fp + tp + eps)`` at every detection, takes the running
    maximum from the right and reads it at ``searchsorted(rc, rec_thrs, "left")``. Those
    read positions are always true positives (or 0), and precision only rises at true
    positives, so the same numbers come from the true positives alone: precision at the
    v-th true positive, its suffix maximum, read at the smallest v whose recall reaches
    each threshold.
    """
    A, T, n = tps.shape
    R = rec_thrs.size
    prec = np.zeros((T, R, A))
    rec = np.zeros((T, A))
    sc = np.zeros((T, R, A))
    if n == 0:
        prec[:, :, npig == 0] = -1
        rec[:, npig == 0] = -1
        sc[:, :, npig == 0] = -1
        return prec, rec, sc
    rows = A * T
    tp2 = tps.reshape(rows, n)
    cfp = np.cumsum(fps.reshape(rows, n), axis=1, dtype=np.int64)
    r_tp, c_tp = np.nonzero(tp2)  # row-major: positions of each row's true positives, in order
    count = np.bincount(r_tp, minlength=rows)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    v = np.arange(r_tp.size) - first[r_tp] + 1  # v-th true positive of its row (1-based)
    pr_tp = v / (cfp[r_tp, c_tp] + v + np.spacing(1))  # == tp / (fp + tp + eps) in float64
    width = max(int(count.max()), 1)
    pad = np.full((rows, width), -np.inf)
    pad[r_tp, v - 1] = pr_tp
    sufmax = np.maximum.accumulate(pad[:, ::-1], axis=1)[:, ::-1]
    pos = np.zeros((rows, width), np.int64)
    pos[r_tp, v - 1] = c_tp
    for a in range(A):
        npg = int(npig[a])
        if npg == 0:
            prec[:, :, a] = -1
            rec[:, a] = -1
            sc[:, :, a] = -1
            continue
        vt = v_cache.get(npg)
        if vt is None:
            vt = v_cache.setdefault(npg, np.searchsorted(np.arange(npg + 1) / npg, rec_thrs, side="left"))
        rs = slice(a * T, (a + 1) * T)
        cnt = count[rs][:, None]  # (T, 1)
        rec[:, a] = count[rs] / npg
        j = np.maximum(vt - 1, 0)[None, :]  # v == 0 reads position 0: the max over all TPs
        ok = (vt[None, :] <= cnt) & (cnt > 0)
        jj = np.minimum(j, width - 1)
        prec[:, :, a] = np.where(ok, np.take_along_axis(sufmax[rs], np.broadcast_to(jj, (T, R)), 1), 0.0)
        at = np.where(vt[None, :] == 0, 0, np.take_along_axis(pos[rs], np.broadcast_to(jj, (T, R)), 1))
        sc[:, :, a] = np.where(ok | (vt[None, :] == 0), score[at], 0.0)
    return prec, rec, sc


def evaluate_table(tab: Table, p: Params, iou_fn: IouFn) -> dict[str, Any]:
    """Evaluate and accumulate; returns precision/recall/scores arrays and per-object flags."""
    K = len(tab.cat_ids)
    A = len(p.area_rng)
    T = len(p.iou_thrs)
    R = len(p.rec_thrs)
    M = len(p.max_dets)
    max_det = p.max_dets[-1]

    # ---------------------------------------------------------------- order and cut
    g_key = tab.g_img.astype(np.int64) * K + tab.g_cat
    g_order = np.argsort(g_key, kind="stable")
    g_key = g_key[g_order]
    d_key = tab.d_img.astype(np.int64) * K + tab.d_cat
    d_order = np.lexsort((-tab.d_score, d_key))  # lexsort is stable
    d_key = d_key[d_order]
    d_units, d_starts, d_ends = _segments(d_key)
    rank = np.arange(d_key.size) - np.repeat(d_starts, d_ends - d_starts)
    keep = rank < max_det
    d_order, d_key, rank = d_order[keep], d_key[keep], rank[keep]
    d_units, d_starts, d_ends = _segments(d_key)
    g_units, g_starts, g_ends = _segments(g_key)

    nd = d_order.size
    g_area = tab.g_area[g_order]
    g_crowd = tab.g_crowd[g_order].astype(bool)
    g_id = tab.g_id[g_order]
    d_area = tab.d_area[d_order]
    d_score = tab.d_score[d_order]
    d_img = tab.d_img[d_order]
    d_cat = tab.d_cat[d_order]
    g_img = tab.g_img[g_order]
    g_cat = tab.g_cat[g_order]

    lo = p.area_rng[:, 0][:, None]
    hi = p.area_rng[:, 1][:, None]
    g_ig = g_crowd[None, :] | (g_area[None, :] < lo) | (g_area[None, :] > hi)  # (A, G)
    d_out = (d_area[None, :] < lo) | (d_area[None, :] > hi)  # (A, D)

    # ---------------------------------------------------------------- IoUs (pycocotools C)
    _, gi, di = np.intersect1d(g_units, d_units, assume_unique=True, return_indices=True)
    thr = np.minimum(p.iou_thrs, 1 - 1e-10)
    thr_min = thr.min() if thr.size else np.inf
    unit_ious: list[np.ndarray] = []
    unit_rel: list[np.ndarray] = []
    unit_ig: list[np.ndarray] = []
    unit_crowd: list[np.ndarray] = []
    unit_gs: list[int] = []
    for a, b in zip(gi.tolist(), di.tolist(), strict=True):
        gs, ge = int(g_starts[a]), int(g_ends[a])
        ds, de = int(d_starts[b]), int(d_ends[b])
        ious = iou_fn(d_order[ds:de].tolist(), g_order[gs:ge].tolist(), g_crowd[gs:ge])
        rel = np.flatnonzero((ious >= thr_min).any(1))
        if rel.size == 0:
            continue
        unit_ious.append(ious[rel])
        unit_rel.append(rel + ds)
        unit_ig.append(g_ig[:, gs:ge])
        unit_crowd.append(g_crowd[gs:ge])
        unit_gs.append(gs)

    # ---------------------------------------------------------------- greedy matching
    # Only detections with some IoU >= the lowest threshold can match; the rest stay 0.
    eff = np.zeros((A, T, nd), bool)  # matched (to a gt whose id is non-zero, see below)
    m_ig = np.zeros((A, T, nd), bool)  # matched to an ignored gt
    if unit_ious:
        res = np.concatenate(
            [
                np.where(r >= 0, r + gs, -1)
                for r, gs in zip(_match(unit_ious, unit_ig, unit_crowd, thr), unit_gs, strict=True)
            ],
            axis=-1,
        )
        rel = np.concatenate(unit_rel)
        is_m = res >= 0
        safe = np.where(is_m, res, 0)
        # pycocotools stores the matched gt *id* and tests it for truth: a gt with id 0 counts
        # as unmatched in accumulate (but still blocks other detections). Reproduced on purpose.
        eff[:, :, rel] = is_m & (g_id[safe] != 0)
        m_ig[:, :, rel] = is_m & g_ig[np.arange(A)[:, None, None], safe]
    d_ig = m_ig | (~eff & d_out[:, None, :])
    tps = eff & ~d_ig
    fps = ~eff & ~d_ig

    # ---------------------------------------------------------------- accumulate
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    scores = -np.ones((T, R, K, A, M))
    # Non-ignored gt per (category, area); 0 means pycocotools leaves the cell at -1.
    npig = np.stack([np.bincount(g_cat, weights=~g_ig[a], minlength=K) for a in range(A)], 1).astype(np.int64)
    # Global order: category, then score (stable), then image, then rank: the order of a
    # stable sort of scores over images concatenated in id order.
    acc_order = np.lexsort((rank, d_img, -d_score, d_cat))
    k_vals, k_starts, k_ends = _segments(d_cat[acc_order])
    k_start = dict(zip(k_vals.tolist(), zip(k_starts.tolist(), k_ends.tolist(), strict=True), strict=True))
    # Smallest tp count v with v / npig >= each recall threshold (the same float division as
    # pycocotools' rc = tp / npig), per distinct npig.
    v_cache: dict[int, np.ndarray] = {}
    for k in range(K):
        if not npig[k].any():
            continue
        s, e = k_start.get(k, (0, 0))
        idx_k = acc_order[s:e]
        for mi, md in enumerate(p.max_dets):
            idx = idx_k[rank[idx_k] < md]
            cell = _accumulate_cell(
                tps[:, :, idx], fps[:, :, idx], d_score[idx], npig[k], p.rec_thrs, v_cache
            )
            precision[:, :, k, :, mi], recall[:, k, :, mi], scores[:, :, k, :, mi] = cell

    return {
        "precision": precision,
        "recall": recall,
        "scores": scores,
        "npig": npig,
        "d_order": d_order,
        "d_img": d_img,
        "d_cat": d_cat,
        "g_img": g_img,
        "g_cat": g_cat,
        "g_ig": g_ig,
        "tps": tps,
        "fps": fps,
        "d_ig": d_ig,
        "rank": rank,
    }


def _summarize_one(
    p: Params,
    precision: np.ndarray,
    recall: np.ndarray,
    ap: bool,
    iou_thr: float | None,
    area: str,
    max_dets: int,
) -> float:
    aind = [i for i, lbl in enumerate(p.area_lbl) if lbl == area]
    mind = [i for i, m in enumerate(p.max_dets) if m == max_dets]
    s = precision if ap else recall
    if iou_thr is not None:
        s = s[np.where(iou_thr == p.iou_thrs)[0]]
    s = s[:, :, :, aind, mind] if ap else s[:, :, aind, mind]
    valid = s[s > -1]
    return -1.0 if valid.size == 0 else float(np.mean(valid))


def summarize(p: Params, precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """The 12 COCO stats, exactly as ``COCOeval.summarize`` computes them."""
    md: Sequence[int] = p.max_dets
    specs = [
        (True, None, "all", 100),
        (True, 0.5, "all", md[2]),
        (True, 0.75, "all", md[2]),
        (True, None, "small", md[2]),
        (True, None, "medium", md[2]),
        (True, None, "large", md[2]),
        (False, None, "all", md[0]),
        (False, None, "all", md[1]),
        (False, None, "all", md[2]),
        (False, None, "small", md[2]),
        (False, None, "medium", md[2]),
        (False, None, "large", md[2]),
    ]
    return np.array([_summarize_one(p, precision, recall, *s) for s in specs])
