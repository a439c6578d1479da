"""Every route of the web app through FastAPI's TestClient, traversal attempts included."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from segscope.app import create_app
from segscope.app.render import shrink
from segscope.catalog import Catalog
from segscope.catalog.demo import build_demo_workspace
from segscope.core import ClassMap, Dataset, Sample
from segscope.evaluation import error_map
from segscope.formats import load_dataset, save_dataset
from segscope.formats.files import read_mask, write_image, write_mask


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    cat = build_demo_workspace(root, n=8, size=48, seed=2)
    return root, cat, TestClient(create_app(cat))


def _png(resp) -> np.ndarray:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(resp.content)))


def test_page_and_static(env):
    _, _, client = env
    r = client.get("/")
    assert r.status_code == 200 and '<script src="/static/app.js">' in r.text
    assert "viewGrid" in client.get("/static/app.js").text
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/static/../catalog/_catalog.py").status_code == 404


def test_datasets_and_dataset_info(env):
    _, _, client = env
    data = client.get("/api/datasets").json()
    assert data["default"] == "shapes" and data["datasets"][0]["num_samples"] == 8
    info = client.get("/api/datasets/shapes").json()
    assert [c["name"] for c in info["classes"]] == ["background", "ellipse", "rectangle", "triangle"]
    assert info["classes"][1]["color"] == [230, 90, 40]
    assert [r["key"] for r in info["runs"]] == ["good", "good-eval", "bad", "bad-eval"]
    assert "good-eval:iou" in info["value_names"] and info["error_colors"]["fp"] == [230, 30, 30]
    r = client.get("/api/datasets/nope")
    assert r.status_code == 404 and "no dataset named 'nope'" in r.json()["detail"]


def test_samples_filters_sort_and_pages(env):
    _, cat, client = env
    vals = cat.values("shapes", "bad-eval")
    lo, hi = 0.2, 0.6
    expect = sorted(s for s, v in vals.items() if v["iou"] is not None and lo <= v["iou"] <= hi)
    r = client.get("/api/datasets/shapes/samples", params={"range": f"bad-eval:iou:{lo}:{hi}", "limit": 100})
    assert sorted(row["sample_id"] for row in r.json()["rows"]) == expect and r.json()["total"] == len(expect)
    r = client.get(
        "/api/datasets/shapes/samples", params={"sort": "bad-eval:iou", "values": "good-eval:iou"}
    ).json()
    ious = [row["values"]["bad-eval:iou"] for row in r["rows"]]
    assert ious == sorted(ious) and all("good-eval:iou" in row["values"] for row in r["rows"])
    r = client.get(
        "/api/datasets/shapes/samples", params={"sort": "bad-eval:iou", "desc": "true", "limit": 2}
    ).json()
    assert [row["values"]["bad-eval:iou"] for row in r["rows"]] == sorted(ious, reverse=True)[:2]
    page2 = client.get("/api/datasets/shapes/samples", params={"offset": 3, "limit": 3}).json()
    assert [row["sample_id"] for row in page2["rows"]] == cat.sample_ids("shapes")[3:6]
    tri = client.get("/api/datasets/shapes/samples", params={"classes": "triangle"}).json()
    assert tri["total"] == cat.query("shapes", classes=[3]).total
    split = client.get("/api/datasets/shapes/samples", params={"split": "train"}).json()
    assert all(row["split"] == "train" for row in split["rows"])
    bad = client.get("/api/datasets/shapes/samples", params={"range": "iou:0:1"})
    assert bad.status_code == 400 and "KEY:NAME:LOW:HIGH" in bad.json()["detail"]


def test_sample_detail_tags_and_note(env):
    _, _, client = env
    s = client.get("/api/datasets/shapes/samples/shape_0001").json()
    assert s["sample_id"] == "shape_0001" and set(s["runs"]) == {"good", "bad"}
    assert "image_path" not in s and "path" not in s["runs"]["good"]
    r = client.post("/api/datasets/shapes/samples/shape_0001/tags", json={"tags": ["review", "odd one"]})
    assert r.json()["tags"] == ["odd one", "review"]
    r = client.delete("/api/datasets/shapes/samples/shape_0001/tags/odd one")
    assert r.json()["tags"] == ["review"]
    assert client.put("/api/datasets/shapes/samples/shape_0001/note", json={"note": "check"}).json() == {
        "note": "check"
    }
    s = client.get("/api/datasets/shapes/samples/shape_0001").json()
    assert s["tags"] == ["review"] and s["note"] == "check"
    assert client.post("/api/datasets/shapes/samples/shape_0001/tags", json={"tags": "x"}).status_code == 400
    assert client.put("/api/datasets/shapes/samples/shape_0001/note", json={"n": 1}).status_code == 400
    assert client.get("/api/datasets/shapes/samples/nope").status_code == 404
    assert client.post("/api/datasets/shapes/samples/nope/tags", json={"tags": ["a"]}).status_code == 404


def test_image_thumb_and_layers(env):
    root, cat, client = env
    base = "/api/datasets/shapes/samples/shape_0002"
    img = _png(client.get(f"{base}/image.png"))
    assert img.shape == (48, 48, 3)
    assert _png(client.get(f"{base}/image.png", params={"channels": "1", "cmap": "viridis"})).shape == (
        48,
        48,
        3,
    )
    assert client.get(f"{base}/image.png", params={"cmap": "jet"}).status_code == 400
    assert client.get(f"{base}/image.png", params={"channels": "a"}).status_code == 400
    assert (
        client.get(f"{base}/image.png", params={"channels": "7"}).status_code == 404
    )  # DataError: out of range
    for layer in ("gt", "good", "none"):
        assert _png(client.get(f"{base}/thumb.png", params={"layer": layer, "size": 32})).shape[:2] == (
            32,
            32,
        )
    assert client.get(f"{base}/thumb.png", params={"layer": "nope"}).status_code == 404
    gt = load_dataset(root / "shapes")["shape_0002"].mask
    pred = read_mask(root / "pred_bad" / "masks" / "shape_0002.png")
    layer = _png(client.get(f"{base}/layers/error.png", params={"run": "bad"}))
    colors, where = error_map(gt, pred)
    assert np.array_equal(layer[..., 3] > 0, where) and np.array_equal(layer[where][:, :3], colors[where])
    conf = _png(client.get(f"{base}/layers/confusion.png", params={"run": "bad", "a": 1, "b": 2}))
    assert np.array_equal(conf[..., 3] > 0, (gt == 1) & (pred == 2))
    gtl = _png(client.get(f"{base}/layers/gt.png"))
    assert np.array_equal(gtl[..., 3] > 0, gt != 0)
    predl = _png(client.get(f"{base}/layers/pred.png", params={"run": "good"}))
    assert predl.shape == (48, 48, 4)
    assert client.get(f"{base}/layers/pred.png").status_code == 400  # no run
    assert client.get(f"{base}/layers/pred.png", params={"run": "zzz"}).status_code == 404
    assert client.get(f"{base}/layers/other.png", params={"run": "good"}).status_code == 404
    hits = client.app.state.cache.hits
    client.get(f"{base}/layers/error.png", params={"run": "bad"})
    assert client.app.state.cache.hits == hits + 1


def test_evaluation_confusion_and_compare_routes(env):
    _, cat, client = env
    ev = client.get("/api/datasets/shapes/evaluations/bad-eval").json()
    assert ev["pred_run"] == "bad" and len(ev["confusion_matrix"]) == 4 and len(ev["per_class"]) == 4
    assert ev["metrics"]["mean_iou"] == pytest.approx(
        cat.run("shapes", "bad-eval")["summary"]["metrics"]["mean_iou"]
    )
    r = client.get("/api/datasets/shapes/evaluations/bad-eval/confusion", params={"gt": 1, "pred": 2}).json()
    assert r["samples"] == cat.confusion_samples("shapes", "bad-eval", 1, 2)
    assert client.get("/api/datasets/shapes/evaluations/good").status_code == 404  # a prediction run
    assert client.get("/api/datasets/shapes/evaluations/zzz").status_code == 404
    r = client.get("/api/datasets/shapes/compare", params={"a": "good-eval", "b": "bad-eval"}).json()
    assert (
        r["rows"] == cat.compare("shapes", "good-eval", "bad-eval")
        and r["rows"][0]["diff"] <= r["rows"][-1]["diff"]
    )


def test_files_route_serves_catalog_files_only(env, tmp_path):
    root, cat, client = env
    ok = client.get("/api/datasets/shapes/files/images/shape_0001.png")
    assert ok.status_code == 200 and ok.content == (root / "shapes/images/shape_0001.png").read_bytes()
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"TOPSECRET-CONTENT")
    attempts = [
        "../workspace.db",
        "images/../../workspace.db",
        "%2e%2e/workspace.db",
        "images/%2e%2e/%2e%2e/workspace.db",
        "%2e%2e%2fworkspace.db",
        "..%2fworkspace.db",
        f"{secret}",
        f"%2F{str(secret).lstrip('/')}",
        "/etc/passwd",
        "classes.yaml",
        "images/nope.png",
        "images%5c..%5c..%5cworkspace.db",
    ]
    for attempt in attempts:
        r = client.get(f"/api/datasets/shapes/files/{attempt}")
        assert r.status_code == 404, attempt
        assert b"TOPSECRET" not in r.content and b"SQLite" not in r.content
    assert client.get(f"/api/datasets/shapes/files//{secret}").status_code == 404


def test_symlink_out_of_dataset_is_404(tmp_path):
    outside = tmp_path / "outside.png"
    write_image(outside, np.full((8, 8, 3), 7, np.uint8))
    ds_root = tmp_path / "ds"
    write_mask(ds_root / "masks" / "a.png", np.zeros((8, 8), np.uint8))
    write_image(ds_root / "images" / "a.png", np.zeros((8, 8, 3), np.uint8))
    write_mask(ds_root / "masks" / "b.png", np.zeros((8, 8), np.uint8))
    os.symlink(outside, ds_root / "images" / "b.png")
    cat = Catalog(tmp_path / "ws.db")
    cat.add_dataset(load_dataset(ds_root), "links")
    client = TestClient(create_app(cat))
    assert client.get("/api/datasets/links/files/images/a.png").status_code == 200
    assert client.get("/api/datasets/links/files/images/b.png").status_code == 404
    # the sample itself is still viewable through the rendering routes
    assert _png(client.get("/api/datasets/links/samples/b/image.png"))[0, 0].tolist() == [7, 7, 7]


@pytest.mark.parametrize("style", ["palette", "rgb", "mask-folder"])
def test_palette_rgb_and_16bit_masks_render(tmp_path, style):
    cm = (
        ClassMap([f"c{i}" for i in range(300)], ignore_index=65535)
        if style == "mask-folder"
        else ClassMap(["bg", "a", "b"])
    )
    rng = np.random.default_rng(0)
    top = 299 if style == "mask-folder" else 2
    mask = rng.integers(0, top + 1, (16, 16)).astype(np.uint16 if style == "mask-folder" else np.uint8)
    img = rng.integers(0, 255, (16, 16, 3)).astype(np.uint8)
    ds = Dataset([Sample("a", load_image=lambda: img, load_mask=lambda: mask)], cm)
    root = save_dataset(ds, tmp_path / "ds", format=style)
    cat = Catalog(tmp_path / "ws.db")
    cat.add_dataset(load_dataset(root), "m")
    layer = _png(TestClient(create_app(cat)).get("/api/datasets/m/samples/a/layers/gt.png"))
    assert np.array_equal(layer[..., 3] > 0, mask != 0)
    colors = cm.colorize(mask)
    assert np.array_equal(layer[mask != 0][:, :3], colors[mask != 0])


def test_float_multichannel_images_and_large_masks(tmp_path):
    rng = np.random.default_rng(1)
    img = rng.normal(size=(1100, 1050, 5)).astype(np.float32)
    mask = (rng.random((1100, 1050)) < 0.5).astype(np.uint8)
    ds = Dataset([Sample("big", load_image=lambda: img, load_mask=lambda: mask)], ClassMap(["bg", "x"]))
    root = save_dataset(ds, tmp_path / "ds", format="numpy")
    cat = Catalog(tmp_path / "ws.db")
    cat.add_dataset(load_dataset(root), "sci")
    s = cat.sample("sci", "big")
    assert (s["channels"], s["dtype"], s["width"], s["height"]) == (5, "float32", 1050, 1100)
    client = TestClient(create_app(cat))
    base = "/api/datasets/sci/samples/big"
    full = _png(client.get(f"{base}/image.png", params={"channels": "4", "cmap": "magma"}))
    assert full.shape == (1100, 1050, 3)
    rgb = _png(client.get(f"{base}/image.png", params={"channels": "0,2,4", "max": 512}))
    assert max(rgb.shape[:2]) <= 512
    layer = _png(client.get(f"{base}/layers/gt.png"))
    assert max(layer.shape[:2]) <= 1024
    assert np.array_equal(layer[..., 3] > 0, shrink(mask, 1024) != 0)
    assert _png(client.get(f"{base}/thumb.png")).shape[:2] == (192, 183)


def test_create_app_with_unknown_default_dataset(env):
    _, cat, _ = env
    from segscope.errors import DataError

    with pytest.raises(DataError, match="no dataset named 'zzz'"):
        create_app(cat, dataset="zzz")
