"""Curation routes of the app: embeddings map, label-error ranking and heatmaps (TestClient)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.curation.conftest import simulated_probs

from segscope.catalog import Catalog
from segscope.curation import embed_images, find_label_errors, project_2d
from segscope.curation.store import Embeddings, store_result
from segscope.datasets.shapes import make_shapes
from segscope.formats import load_dataset

pytest.importorskip("fastapi")


def test_curation_routes(tmp_path):
    from fastapi.testclient import TestClient

    from segscope.app.curation import add_curation_routes
    from segscope.app.server import create_app

    ds = load_dataset(make_shapes(tmp_path / "shapes", n=8, size=48, seed=0))
    cat = Catalog(tmp_path / "ws.db")
    cat.add_dataset(ds, "shapes")
    vecs = embed_images([s.image for s in ds])
    store_result(
        cat, "shapes", "emb", Embeddings(ds.ids, vecs, xy=project_2d(vecs), params={"method": "descriptor"})
    )
    rng = np.random.default_rng(0)
    bad = ds.ids[3]
    pairs = [
        (s.id, simulated_probs(s.mask, rng, num_classes=4), np.zeros_like(s.mask) if s.id == bad else s.mask)
        for s in ds
    ]
    res = find_label_errors(pairs, heatmap_dir=tmp_path / "le" / "heatmaps")
    store_result(cat, "shapes", "le", res, root=tmp_path / "le")

    app = create_app(cat)
    add_curation_routes(app, cat)
    client = TestClient(app)
    emb = client.get("/api/datasets/shapes/curation/emb/embedding").json()
    assert sorted(emb["ids"]) == sorted(ds.ids) and len(emb["x"]) == len(emb["y"]) == 8
    ranking = client.get("/api/datasets/shapes/curation/le/label-errors").json()
    assert ranking["rows"][0]["sample_id"] == bad and ranking["rows"][0]["findings"][0]["kind"] == "missing"
    png = client.get(f"/api/datasets/shapes/samples/{bad}/label-heatmap.png", params={"run": "le"})
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    wrong = client.get("/api/datasets/shapes/curation/emb/label-errors")
    assert wrong.status_code == 404 and "not a label-errors run" in wrong.json()["detail"]
