"""The HTML report: self-contained, with every section, and the error map's colours."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from segscope.core import ClassMap, Dataset, Sample
from segscope.errors import ParameterError
from segscope.evaluation import EvaluationConfig, EvaluationResults, evaluate, render_report, write_report
from segscope.evaluation.report import ERROR_COLORS, error_map


def _datasets(n=4, seed=1):
    rng = np.random.default_rng(seed)
    gts, preds, images = {}, {}, {}
    for i in range(n):
        gt = np.zeros((40, 48), np.uint8)
        gt[5:25, 8 + i : 30 + i] = 1
        gt[28:36, 30:44] = 2
        gt[0, :] = 255
        pred = np.roll(gt, 2 * i, axis=1)
        pred[pred == 255] = 0
        gts[f"s{i}"], preds[f"s{i}"] = gt, pred
        images[f"s{i}"] = rng.integers(0, 256, (40, 48), dtype=np.uint8)
    cm = ClassMap(("background", "cell", "debris"))

    def ds(masks, with_images):
        return Dataset(
            [
                Sample(
                    k,
                    load_mask=(lambda m=m: m),
                    load_image=(lambda k=k: images[k]) if with_images else None,
                )
                for k, m in masks.items()
            ],
            cm,
        )

    return ds(gts, True), ds(preds, False)


def test_error_map_colours():
    gt = np.array([[0, 1, 1, 0, 2, 255]])
    pred = np.array([[0, 1, 0, 1, 1, 0]])
    colors, where = error_map(gt, pred)
    assert where.tolist() == [[False, True, True, True, True, True]]
    expected = ["tp", "fn", "fp", "wrong_class", "ignore"]
    assert [tuple(c) for c in colors[0, 1:]] == [ERROR_COLORS[k] for k in expected]
    assert len({ERROR_COLORS[k] for k in expected}) == 5  # all distinct
    with pytest.raises(ParameterError, match=r"gt is \(1, 6\) but pred is \(1, 5\)"):
        error_map(gt, pred[:, :5])


def test_report_is_self_contained_with_sections(tmp_path):
    gt, pred = _datasets()
    res = evaluate(gt, pred, EvaluationConfig(boundary=True))
    path = tmp_path / "sub" / "report.html"
    write_report(res, path, gt=gt, pred=pred, worst=2)
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    for section in (
        'id="summary"',
        'id="per-class"',
        'id="confusion"',
        'id="worst"',
        "Worst 2 samples by iou",
    ):
        assert section in text
    # nothing fetched from elsewhere: no remote src/href, no external script or stylesheet
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<script" not in text and "<link" not in text
    uris = re.findall(r'src="(data:image/png;base64,[^"]+)"', text)
    # IoU bars + confusion matrix + 4 panels for each of the 2 worst samples
    assert len(uris) == 2 + 2 * 4
    for uri in uris:
        Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).verify()
    # the worst samples are those with the largest shift, in order
    worst_ids = re.findall(r'<div class="sample"><h3>(\w+)</h3>', text)
    assert worst_ids == [r["id"] for r in res.worst(2)] == ["s3", "s2"]


def test_error_panel_pixels():
    gt, pred = _datasets(n=2)
    res = evaluate(gt, pred)
    assert res.worst(1)[0]["id"] == "s1"
    text = render_report(res, gt=gt, pred=pred, worst=1)
    uris = re.findall(r'alt="errors" src="data:image/png;base64,([^"]+)"', text)
    panel = np.asarray(Image.open(io.BytesIO(base64.b64decode(uris[0]))).convert("RGB")).astype(int)
    image = gt["s1"].image.astype(np.float32)
    assert panel.shape == (40, 48, 3)

    def blended(y, x, kind):
        return [int(0.3 * image[y, x] + 0.7 * c) for c in ERROR_COLORS[kind]]

    # s1: cell at columns 9..30 in gt, predicted at 11..32; row 0 is ignore
    assert panel[0, 10].tolist() == blended(0, 10, "ignore")
    assert panel[10, 9].tolist() == blended(10, 9, "fn")
    assert panel[10, 31].tolist() == blended(10, 31, "fp")
    assert panel[10, 15].tolist() == blended(10, 15, "tp")
    assert panel[38, 2].tolist() == [int(image[38, 2])] * 3  # correct background is left as is


def test_report_from_dict_without_datasets():
    res = EvaluationResults.from_dict(
        {
            "classes": ["bg", "fg"],
            "metrics": {"mean_iou": 0.5},
            "per_sample": [{"id": "a", "iou": 0.2}, {"id": "b", "iou": float("nan")}],
            "regions": {
                "per_class": [
                    {
                        "class": 1,
                        "name": "fg",
                        "gt_regions": 2,
                        "missed": 1,
                        "recall": 0.5,
                        "small": {"gt_regions": 2, "detected": 1, "recall": 0.5},
                    }
                ],
                "total": {"gt_regions": 2, "missed": 1, "recall": 0.5},
                "aggregation": {"iou_threshold": 0.5},
            },
            "instance": {
                "stats": {"AP": 0.4},
                "pr_curves": {
                    "recall": np.linspace(0, 1, 101).tolist(),
                    "iou_0.50": {"all": np.linspace(1, 0, 101).tolist(), "fg": [-1.0] * 101},
                    "iou_0.75": {"all": np.linspace(0.8, 0, 101).tolist()},
                },
            },
        }
    )
    text = render_report(res, worst=5)
    for section in ('id="summary"', 'id="instance"', 'id="pr-curves"', 'id="regions"', "Worst 1 samples"):
        assert section in text
    assert "1/2 (0.50)" in text and "all classes" in text  # region size bins and total row
    with pytest.raises(ParameterError, match="worst=-1"):
        render_report(res, worst=-1)


def test_report_calibration_section_with_probs():
    gt, pred = _datasets(n=2)
    rng = np.random.default_rng(0)

    def probs_of(mask):
        p = rng.random((*mask.shape, 3)).astype(np.float32)
        p[np.arange(mask.shape[0])[:, None], np.arange(mask.shape[1]), mask] += 1.5
        return p / p.sum(axis=2, keepdims=True)

    with_probs = Dataset(
        [Sample(s.id, load_mask=s.load_mask, load_probs=(lambda p=probs_of(s.mask): p)) for s in pred],
        pred.class_map,
    )
    res = evaluate(gt, with_probs)
    text = render_report(res, gt=gt, pred=with_probs, worst=0)
    assert 'id="calibration"' in text and 'alt="reliability diagram"' in text
    assert 0 < res.metrics["ece"] < 1 and res.calibration["num_samples"] == 2
