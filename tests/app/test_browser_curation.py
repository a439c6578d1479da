"""End to end in a real browser: the curation views (embeddings map with a box selection that
filters the grid, the label-error ranking and its heatmap layer). Same launch settings as
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
        page.wait_for_selector("#box-filter")
        page.wait_for_function(f"document.querySelectorAll('#grid .card').length === {len(expected)}")
        ids = page.locator("#grid .card").evaluate_all("els => els.map(e => e.dataset.id)")
        assert sorted(ids) == expected
        assert page.inner_text("#count").endswith(f"of {len(expected)} samples")
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
