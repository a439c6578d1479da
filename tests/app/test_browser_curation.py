"""End to end in a real browser: the curation views (embeddings map with a box or lasso selection
that filters the grid, the label-error ranking and its heatmap layer). Same launch settings as
``test_browser.py``: Playwright driving Debian's Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from tests.app.test_browser import ARGS, CHROMIUM, pytestmark, serve_in_thread, sync_api
from tests.curation.conftest import simulated_probs

__all__ = ["pytestmark"]  # slow, and skipped without Chromium or Playwright, like test_browser

SZ, PAD = 620, 24  # the scatter plot's size and padding in app.js (viewEmbedding)


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """A shapes workspace with an embeddings run ``emb`` and a label-errors run ``le``."""
    from segscope.catalog import Catalog
    from segscope.curation import embed_images, find_label_errors, project_2d
    from segscope.curation.store import Embeddings, store_result
    from segscope.datasets.shapes import make_shapes
    from segscope.formats import load_dataset

    root = tmp_path_factory.mktemp("curation-browser")
    ds = load_dataset(make_shapes(root / "shapes", n=12, size=48, seed=0))
    cat = Catalog(root / "ws.db")
    cat.add_dataset(ds, "shapes")
    vecs = embed_images([s.image for s in ds])
    xy = project_2d(vecs)
    store_result(cat, "shapes", "emb", Embeddings(ds.ids, vecs, xy=xy, params={"method": "descriptor"}))
    rng = np.random.default_rng(0)
    bad = ds.ids[5]  # every object erased from this mask: a planted "missing" label error
    pairs = [
        (s.id, simulated_probs(s.mask, rng, num_classes=4), np.zeros_like(s.mask) if s.id == bad else s.mask)
        for s in ds
    ]
    res = find_label_errors(pairs, heatmap_dir=root / "le" / "heatmaps")
    store_result(cat, "shapes", "le", res, root=root / "le")

    with serve_in_thread(cat) as url:
        yield url, cat, dict(zip(ds.ids, map(tuple, xy.tolist()), strict=True)), bad


def _grid_shows(page, banner: str, expected: list[str]) -> None:
    """The grid, under its selection banner, holds exactly the ``expected`` samples."""
    page.wait_for_selector(banner)
    page.wait_for_function(f"document.querySelectorAll('#grid .card').length === {len(expected)}")
    ids = page.locator("#grid .card").evaluate_all("els => els.map(e => e.dataset.id)")
    assert sorted(ids) == expected
    assert page.inner_text("#count").endswith(f"of {len(expected)} samples")


def test_embedding_box_selection_label_errors_heatmap(curated, tmp_path):
    url, cat, xy, bad = curated
    shots = Path(os.environ.get("SEGSCOPE_SCREENSHOTS", tmp_path))
    # A box over the left part of the map, its right edge in the widest gap between the middle
    # points, so no point sits within a pixel of the edge.
    xs = np.array(sorted(v[0] for v in xy.values()))
    gaps = np.diff(xs)[3:8]
    cut = 3 + int(gaps.argmax())
    x_edge = (xs[cut] + xs[cut + 1]) / 2
    expected = sorted(i for i, (x, _) in xy.items() if x <= x_edge)
    assert 4 <= len(expected) <= 8
    xmin, xmax = xs[0], xs[-1]

    def px(x: float) -> float:
        return PAD + (x - xmin) / (xmax - xmin) * (SZ - 2 * PAD)

    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 850})
        page.on("pageerror", lambda e: errors.append(str(e)))
        # 1. the grid links the curation runs; open the embeddings map
        page.goto(url)
        page.wait_for_selector("#grid .card")
        page.click("a[data-curation='emb']")
        page.wait_for_selector("#scatter circle")
        assert page.locator("#scatter circle").count() == 12
        # colour by a class: a legend appears and the points take two colours at most
        page.select_option("#color-by", "class:1")
        page.wait_for_selector("#scatter-legend :text('present')")
        assert (
            len(
                set(
                    page.locator("#scatter circle").evaluate_all(
                        "els => els.map(e => e.getAttribute('fill'))"
                    )
                )
            )
            <= 2
        )
        # 2. drag a box from the top-left corner to the edge, over the full height
        box = page.locator("#scatter").bounding_box()
        assert box is not None and abs(box["width"] - SZ) < 1
        page.mouse.move(box["x"] + 2, box["y"] + 2)
        page.mouse.down()
        page.mouse.move(box["x"] + px(x_edge) / 2, box["y"] + SZ / 2, steps=3)
        page.mouse.move(box["x"] + px(x_edge), box["y"] + SZ - 2, steps=3)
        page.mouse.up()
        page.wait_for_selector("#selected-count")
        assert page.inner_text("#selected-count") == f"{len(expected)} selected"
        highlighted = page.locator("#scatter circle.selected").evaluate_all(
            "els => els.map(e => e.dataset.id)"
        )
        assert sorted(highlighted) == expected
        page.screenshot(path=str(shots / "embeddings.png"))
        # 3. the grid shows exactly the selected samples
        page.click("#show-selection")
        _grid_shows(page, "#box-filter", expected)
        page.wait_for_function(
            "Array.from(document.querySelectorAll('#grid img')).every(i => i.complete && i.naturalWidth > 0)"
        )
        page.screenshot(path=str(shots / "grid-selection.png"))
        # clearing the selection gives all samples back
        page.click("#box-clear")
        page.wait_for_function("document.querySelectorAll('#grid .card').length === 12")
        # 4. the label-error ranking: the planted error first, with its finding
        page.click("a[data-curation='le']")
        page.wait_for_selector("#label-errors tr[data-id]")
        ranked = page.locator("#label-errors tr[data-id]").evaluate_all("els => els.map(e => e.dataset.id)")
        assert sorted(ranked) == sorted(cat.values("shapes", "le"))
        assert ranked[0] == bad
        assert "missing" in page.inner_text(f"#label-errors tr[data-id='{bad}']")
        page.screenshot(path=str(shots / "label-errors.png"), full_page=True)
        # 5. open the top sample and toggle its heatmap layer off and on
        page.click(f"#label-errors tr[data-id='{bad}'] a.sample-link")
        page.wait_for_selector("#base-image")
        check = "#layer-label-errors-le"
        page.uncheck(check)
        assert page.locator("img.layer[data-layer='label-errors-le']").count() == 0
        page.check(check)
        src = page.locator("img.layer[data-layer='label-errors-le']").get_attribute("src")
        assert src is not None and "label-heatmap.png?run=le" in src
        resp = page.request.get(url.rstrip("/") + src)  # the browser may answer from its image cache
        assert resp.status == 200 and resp.headers["content-type"] == "image/png"
        page.wait_for_function(
            "(() => { const i = document.querySelector(\"img.layer[data-layer='label-errors-le']\");"
            " return i && i.complete && i.naturalWidth === 48 && getComputedStyle(i).display !== 'none'; })()"
        )
        page.screenshot(path=str(shots / "sample-heatmap.png"))
        browser.close()
    assert not errors, errors


def _px(xy: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Each point's position on the scatter plot, in SVG pixels (as ``sx``/``sy`` in app.js)."""
    xs, ys = [v[0] for v in xy.values()], [v[1] for v in xy.values()]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    return {
        i: (PAD + (x - x0) / (x1 - x0) * (SZ - 2 * PAD), SZ - PAD - (y - y0) / (y1 - y0) * (SZ - 2 * PAD))
        for i, (x, y) in xy.items()
    }


def _lasso_polygon(pts: dict[str, tuple[float, float]]) -> tuple[np.ndarray, list[str]]:
    """A polygon (SVG pixels) that selects a few points, differs from its bounding box, and keeps
    every point at least 4 px from its edges; plus the ids inside it (matplotlib's test)."""
    from matplotlib.path import Path as MplPath

    ids = sorted(pts)
    xyp = np.array([pts[i] for i in ids])
    lo, hi = 6.0, SZ - 6.0
    for t in np.arange(0.45, 1.6, 0.025) * SZ:
        # the corner region x + y <= t of the square [lo, hi]^2, then mirrored four ways
        if t <= lo + hi:
            corner = np.array([(lo, lo), (t - lo, lo), (lo, t - lo)])
        else:
            corner = np.array([(lo, lo), (hi, lo), (hi, t - hi), (t - hi, hi), (lo, hi)])
        for fx in (False, True):
            for fy in (False, True):
                verts = corner.copy()
                if fx:
                    verts[:, 0] = SZ - verts[:, 0]
                if fy:
                    verts[:, 1] = SZ - verts[:, 1]
                inside = MplPath(verts).contains_points(xyp)
                a, b = verts, np.roll(verts, -1, axis=0)  # the edges a -> b
                ab = b - a
                u = np.clip(((xyp[:, None] - a) * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
                dist = np.linalg.norm(xyp[:, None] - (a + u[..., None] * ab), axis=-1).min(1)
                (bx0, by0), (bx1, by1) = verts.min(0), verts.max(0)
                in_box = (xyp[:, 0] >= bx0) & (xyp[:, 0] <= bx1) & (xyp[:, 1] >= by0) & (xyp[:, 1] <= by1)
                if dist.min() >= 4 and 3 <= inside.sum() <= 9 and (in_box & ~inside).any():
                    return verts, [i for i, k in zip(ids, inside, strict=True) if k]
    raise AssertionError("no test polygon fits these points")


def test_embedding_lasso_selection_filters_the_grid(curated, tmp_path):
    url, _, xy, _ = curated
    shots = Path(os.environ.get("SEGSCOPE_SCREENSHOTS", tmp_path))
    verts, expected = _lasso_polygon(_px(xy))
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 850})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "#/d/shapes/c/emb")
        page.wait_for_selector("#scatter circle")
        # the tool toggle works from the keyboard: arrow keys move between the radio buttons
        assert page.is_checked("#sel-box")
        page.focus("#sel-box")
        page.keyboard.press("ArrowRight")
        assert page.is_checked("#sel-lasso") and not page.is_checked("#sel-box")
        # drag the polygon's outline with the mouse, back to where it started
        box = page.locator("#scatter").bounding_box()
        assert box is not None and abs(box["width"] - SZ) < 1
        page.mouse.move(box["x"] + verts[0][0], box["y"] + verts[0][1])
        page.mouse.down()
        for a, b in zip(verts, [*verts[1:], verts[0]], strict=True):
            steps = max(1, int(np.hypot(*(b - a)) // 20))
            page.mouse.move(box["x"] + b[0], box["y"] + b[1], steps=steps)
        page.mouse.up()
        page.wait_for_selector("#selected-count")
        assert page.inner_text("#selected-count") == f"{len(expected)} selected"
        assert page.locator("#scatter polygon.lasso").is_visible()
        assert page.locator("#scatter rect.selbox").is_hidden()
        highlighted = page.locator("#scatter circle.selected").evaluate_all(
            "els => els.map(e => e.dataset.id)"
        )
        assert sorted(highlighted) == expected
        page.screenshot(path=str(shots / "embeddings-lasso.png"))
        # the map's own clear button drops the selection; draw it again
        page.click("#clear-selection")
        assert page.locator("#scatter circle.selected").count() == 0
        page.mouse.move(box["x"] + verts[0][0], box["y"] + verts[0][1])
        page.mouse.down()
        for b in [*verts[1:], verts[0]]:
            page.mouse.move(box["x"] + b[0], box["y"] + b[1], steps=20)
        page.mouse.up()
        assert page.inner_text("#selected-count") == f"{len(expected)} selected"
        # the grid shows exactly the samples inside the polygon, not its bounding box
        page.click("#show-selection")
        _grid_shows(page, "#lasso-filter", expected)
        page.screenshot(path=str(shots / "grid-lasso.png"))
        # other filters keep the lasso; clearing it gives all samples back
        page.evaluate("document.querySelector('#grid').dataset.old = '1'")
        page.click("#apply")
        page.wait_for_selector("#grid:not([data-old])")  # the grid drawn again
        _grid_shows(page, "#lasso-filter", expected)
        page.click("#lasso-clear")
        page.wait_for_function("document.querySelectorAll('#grid .card').length === 12")
        assert page.locator("#lasso-filter").count() == 0
        browser.close()
    assert not errors, errors
