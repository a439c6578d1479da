"""End to end in a real browser: Playwright driving Debian's Chromium (scripts/install_chromium.sh)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"Chromium not found at {CHROMIUM}; run scripts/install_chromium.sh (make test does)",
    ),
]
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install .[dev])"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(cat):
    """The app over catalog ``cat`` served by uvicorn in a thread; yields its URL."""
    import uvicorn

    from segscope.app import create_app

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(cat), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from segscope.catalog.demo import build_demo_workspace

    root = tmp_path_factory.mktemp("browser")
    cat = build_demo_workspace(root, n=12, size=64, seed=3)
    with serve_in_thread(cat) as url:
        yield url, cat


def test_grid_filter_sample_layer_tag_persists(server, tmp_path):
    url, cat = server
    shots = Path(os.environ.get("SEGSCOPE_SCREENSHOTS", tmp_path))
    vals = {s: v["iou"] for s, v in cat.values("shapes", "bad-eval").items()}
    lo, hi = 0.2, 0.5
    expected = sorted(s for s, v in vals.items() if v is not None and lo <= v <= hi)
    assert expected, "the demo data should have samples in the range"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 850})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # 1. the grid
        page.goto(url)
        page.wait_for_selector("#grid .card")
        assert page.locator("#grid .card").count() == 12
        # 2. filter by a metric range, worst first
        page.select_option("#range-metric", "bad-eval:iou")
        page.fill("#range-min", str(lo))
        page.fill("#range-max", str(hi))
        page.select_option("#sort", "bad-eval:iou")
        page.click("#apply")
        page.wait_for_function(f"document.querySelectorAll('#grid .card').length === {len(expected)}")
        ids = page.locator("#grid .card").evaluate_all("els => els.map(e => e.dataset.id)")
        assert sorted(ids) == expected
        assert ids == sorted(expected, key=lambda s: vals[s])
        page.wait_for_function(
            "Array.from(document.querySelectorAll('#grid img')).every(i => i.complete && i.naturalWidth > 0)"
        )
        page.screenshot(path=str(shots / "grid.png"))
        # 3. open a sample
        first = ids[0]
        page.click(f"#grid .card[data-id='{first}']")
        page.wait_for_selector("#base-image")
        page.wait_for_function("document.querySelector('#base-image').naturalWidth > 0")
        assert page.locator("img.layer[data-layer='gt']").count() == 1
        # 4. toggle layers: ground truth off, error map of the 'bad' run on
        page.uncheck("#layer-gt")
        assert page.locator("img.layer[data-layer='gt']").count() == 0
        page.check("#layer-error-bad")
        page.wait_for_function(
            "(() => { const i = document.querySelector(\"img.layer[data-layer='error-bad']\"); return i && i.complete && i.naturalWidth === 64; })()"
        )
        page.fill("#opacity", "0.9")
        page.dispatch_event("#opacity", "input")
        assert page.locator("img.layer[data-layer='error-bad']").evaluate("e => e.style.opacity") == "0.9"
        # 5. add a tag, reload, see it persist
        page.fill("#tag-input", "needs-review")
        page.click("#tag-add")
        page.wait_for_selector("#tags .tag:has-text('needs-review')")
        page.screenshot(path=str(shots / "sample.png"))
        page.reload()
        page.wait_for_selector("#tags .tag:has-text('needs-review')")
        assert "needs-review" in cat.sample("shapes", first)["tags"]
        # the tag filter in the grid finds it
        page.goto(url + "#/d/shapes?tags=needs-review")
        page.wait_for_function("document.querySelectorAll('#grid .card').length === 1")
        # 6. evaluation view: click a confusion cell, see the samples
        page.goto(url + "#/d/shapes/e/bad-eval?cmp=good-eval")
        page.wait_for_selector("#confusion-matrix")
        page.click("#confusion-matrix td[data-gt='1'][data-pred='2']")
        page.wait_for_selector("#confusion-samples h4")
        n = len(cat.confusion_samples("shapes", "bad-eval", 1, 2))
        assert f": {n} samples" in page.inner_text("#confusion-samples h4")
        page.wait_for_selector("#compare-worse table")
        page.screenshot(path=str(shots / "evaluation.png"), full_page=True)
        browser.close()
    assert not errors, errors
    if shutil.which("true"):  # keep the screenshots' folder in the failure output when it matters
        assert (shots / "grid.png").stat().st_size > 1000
