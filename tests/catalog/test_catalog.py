"""Catalog: schema/migrations, one-transaction imports, concurrency, queries against independent counts."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest

from segscope.catalog import Catalog, _catalog
from segscope.catalog.demo import build_demo_workspace
from segscope.core import ClassMap, Dataset, Sample
from segscope.errors import DataError, ParameterError
from segscope.formats import load_dataset
from segscope.formats.files import read_mask


def _memory_dataset(n: int, seed: int = 0) -> tuple[Dataset, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    masks = [rng.integers(0, 3, (6, 7)).astype(np.uint8) * (rng.random((6, 7)) < 0.3) for _ in range(n)]
    samples = [
        Sample(f"s{i:04d}", load_mask=lambda m=m: m, split=("train", "val")[i % 2])
        for i, m in enumerate(masks)
    ]
    return Dataset(samples, ClassMap(["bg", "a", "b"])), masks


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo_workspace(tmp_path_factory.mktemp("demo"), n=10, size=48, seed=1)


# ------------------------------------------------------------------ schema and migrations
def test_new_workspace_has_current_schema_and_wal(tmp_path):
    cat = Catalog(tmp_path / "sub" / "ws.db")
    assert cat.schema_version == _catalog.SCHEMA_VERSION == len(_catalog.MIGRATIONS)
    assert cat._con().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = {r[0] for r in cat._con().execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"sample_values_sort", "samples_split", "tags_sample", "sample_classes_sample"} <= names


def test_migration_appended_later_is_applied_on_open(tmp_path, monkeypatch):
    path = tmp_path / "ws.db"
    cat = Catalog(path)
    cat.add_dataset(_memory_dataset(3)[0], "toy")
    cat.close()
    migrations = [*_catalog.MIGRATIONS, "ALTER TABLE samples ADD COLUMN rating INTEGER"]
    monkeypatch.setattr(_catalog, "MIGRATIONS", migrations)
    monkeypatch.setattr(_catalog, "SCHEMA_VERSION", len(migrations))
    cat = Catalog(path)
    assert cat.schema_version == len(migrations)
    cols = [r[1] for r in cat._con().execute("PRAGMA table_info(samples)")]
    assert "rating" in cols and cat.dataset("toy")["num_samples"] == 3


def test_newer_workspace_is_refused(tmp_path):
    path = tmp_path / "ws.db"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {_catalog.SCHEMA_VERSION + 5}")
    con.close()
    with pytest.raises(DataError, match="newer than this segscope understands.*upgrade segscope"):
        Catalog(path)


def test_not_a_database_is_refused(tmp_path):
    path = tmp_path / "ws.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DataError, match="is not a segscope workspace"):
        Catalog(path)


def test_default_workspace_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGSCOPE_WORKSPACE", str(tmp_path / "x.db"))
    assert _catalog.default_workspace() == tmp_path / "x.db"
    monkeypatch.delenv("SEGSCOPE_WORKSPACE")
    assert _catalog.default_workspace().name == "workspace.db"


# ------------------------------------------------------------------ transactions
def test_interrupted_import_leaves_workspace_unchanged(tmp_path, monkeypatch):
    cat = Catalog(tmp_path / "ws.db")
    ds, _ = _memory_dataset(50)
    cat.add_dataset(ds, "kept")
    cat.add_tags("kept", ["s0001"], ["mine"])

    def boom(*args, **kwargs):
        raise RuntimeError("interrupted midway")

    monkeypatch.setattr(Catalog, "_insert_sample_classes", boom)
    with pytest.raises(RuntimeError, match="interrupted"):
        cat.add_dataset(_memory_dataset(30, seed=2)[0], "new")
    with pytest.raises(RuntimeError, match="interrupted"):
        cat.add_dataset(_memory_dataset(30, seed=2)[0], "kept", overwrite=True)
    assert [d["name"] for d in cat.datasets()] == ["kept"]
    assert cat.dataset("kept")["num_samples"] == 50
    assert cat._con().execute("SELECT count(*) FROM samples").fetchone()[0] == 50
    assert cat.query("kept", tags=["mine"]).total == 1


def test_failed_run_writes_nothing(demo):
    before = len(demo.runs("shapes"))
    with pytest.raises(DataError, match="not in dataset 'shapes'"):
        demo.add_run("shapes", "curation", "c1", values={"nope": {"x": 1.0}})
    with pytest.raises(DataError, match="is a str, not a number"):
        demo.add_run("shapes", "curation", "c1", values={"shape_0000": {"x": "high"}})
    with pytest.raises(DataError, match="already has a run 'good'.*--overwrite"):
        demo.add_run("shapes", "curation", "good")
    with pytest.raises(ParameterError, match="run key 'a b' is not valid"):
        demo.add_run("shapes", "curation", "a b")
    assert len(demo.runs("shapes")) == before


def test_dataset_name_taken_and_unknown(tmp_path):
    cat = Catalog(tmp_path / "ws.db")
    cat.add_dataset(_memory_dataset(2)[0], "toy")
    with pytest.raises(DataError, match="already in .*pass --overwrite"):
        cat.add_dataset(_memory_dataset(2)[0], "toy")
    with pytest.raises(DataError, match="no dataset named 'tyo'.*did you mean 'toy'"):
        cat.dataset("tyo")


# ------------------------------------------------------------------ concurrency
def test_concurrent_reader_and_writer(tmp_path):
    path = tmp_path / "ws.db"
    writer_cat, reader_cat = Catalog(path), Catalog(path)
    writer_cat.add_dataset(_memory_dataset(20)[0], "base")
    errors: list[BaseException] = []
    seen: set[int] = set()
    done = threading.Event()

    def write() -> None:
        try:
            for k in range(6):
                writer_cat.add_dataset(_memory_dataset(300, seed=k)[0], f"d{k}")
                writer_cat.add_tags("base", [f"s{k:04d}"], [f"t{k}"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set():
                for d in reader_cat.datasets():
                    total = reader_cat.query(d["name"], limit=5).total
                    seen.add(total)
                    assert total == d["num_samples"]  # never a half-imported dataset
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert seen <= {20, 300}
    assert len(reader_cat.datasets()) == 7 and len(reader_cat.tags("base")) == 6


# ------------------------------------------------------------------ import and queries
def test_1k_import_and_filters_match_independent_counts(tmp_path):
    cat = Catalog(tmp_path / "ws.db")
    ds, masks = _memory_dataset(1000, seed=3)
    assert cat.add_dataset(ds, "big").num_samples == 1000
    present = [set(np.unique(m).tolist()) for m in masks]
    assert cat.query("big", classes=["a"]).total == sum(1 in p for p in present)
    assert cat.query("big", classes=[1, "b"], split="val").total == sum(
        {1, 2} <= p and i % 2 == 1 for i, p in enumerate(present)
    )
    rng = np.random.default_rng(4)
    scores = rng.random(1000)
    scores[::7] = np.nan
    cat.add_run(
        "big", "curation", "lab", values={f"s{i:04d}": {"score": float(v)} for i, v in enumerate(scores)}
    )
    page = cat.query("big", sort="lab:score", limit=1000)
    finite = np.sort(scores[~np.isnan(scores)])
    got = [r["values"]["lab:score"] for r in page.rows]
    assert np.allclose(got[: finite.size], finite) and all(v is None for v in got[finite.size :])
    desc = cat.query("big", sort="lab:score", descending=True, limit=3)
    assert np.allclose([r["values"]["lab:score"] for r in desc.rows], finite[::-1][:3])
    ranged = cat.query("big", ranges={"lab:score": (0.2, 0.4)}, offset=5, limit=10)
    assert ranged.total == int(((scores >= 0.2) & (scores <= 0.4)).sum()) and len(ranged.rows) == 10
    assert cat.query("big", ranges={"lab:score": (None, None)}).total == finite.size
    with pytest.raises(ParameterError, match="must be written KEY:NAME"):
        cat.query("big", sort="score")
    with pytest.raises(ParameterError, match="class 'c' is not in the class map"):
        cat.query("big", classes=["c"])


def test_sample_record_tags_notes_and_load(demo):
    demo.add_tags("shapes", ["shape_0002", "shape_0003"], ["review", "hard"])
    demo.remove_tags("shapes", ["shape_0003"], ["hard"])
    demo.set_note("shapes", "shape_0002", "triangle looks clipped")
    s = demo.sample("shapes", "shape_0002")
    assert s["tags"] == ["hard", "review"] and s["note"] == "triangle looks clipped"
    assert set(s["runs"]) == {"good", "bad"} and s["runs"]["good"]["path"].endswith(
        "pred_good/masks/shape_0002.png"
    )
    assert 0 <= s["values"]["good-eval:iou"] <= 1
    assert demo.tags("shapes") == {"hard": 1, "review": 2}
    assert demo.query("shapes", tags=["review", "hard"]).total == 1
    root = demo.path.parent / "shapes"
    direct = load_dataset(root)
    loaded = demo.load("shapes")
    assert loaded.ids == direct.ids and loaded.splits == direct.splits
    for a, b in zip(loaded, direct, strict=True):
        assert np.array_equal(a.mask, b.mask)
        assert s["classes"] is not None
    with pytest.raises(DataError, match="has no sample 'nope'"):
        demo.sample("shapes", "nope")


def test_confusion_samples_and_compare_match_numpy(demo):
    root = demo.path.parent
    gt = load_dataset(root / "shapes")
    counts = {}
    for s in gt:
        pred = read_mask(root / "pred_bad" / "masks" / f"{s.id}.png")
        n = int(((s.mask == 1) & (pred == 2)).sum())
        if n:
            counts[s.id] = n
    got = demo.confusion_samples("shapes", "bad-eval", 1, 2)
    assert {r["sample_id"]: r["pixels"] for r in got} == counts
    assert [r["pixels"] for r in got] == sorted(counts.values(), reverse=True)
    rows = demo.compare("shapes", "good-eval", "bad-eval", metric="iou")
    good, bad = demo.values("shapes", "good-eval"), demo.values("shapes", "bad-eval")
    assert [r["diff"] for r in rows] == sorted(r["diff"] for r in rows)
    for r in rows:
        assert r["diff"] == pytest.approx(bad[r["sample_id"]]["iou"] - good[r["sample_id"]]["iou"])
    summary = demo.run("shapes", "bad-eval")["summary"]
    assert summary["pred_run"] == "bad" and len(summary["confusion_matrix"]) == 4


def test_instance_folder_dataset_stores_instance_counts(tmp_path):
    from segscope.formats.files import write_image, write_mask

    ids = np.zeros((20, 20), np.uint16)
    ids[2:6, 2:6], ids[10:15, 10:15], ids[16:19, 1:4] = 1, 2, 3
    write_mask(tmp_path / "ds" / "masks" / "a.png", ids)
    write_image(tmp_path / "ds" / "images" / "a.png", np.zeros((20, 20, 4), np.uint8))
    cat = Catalog(tmp_path / "ws.db")
    cat.add_dataset(load_dataset(tmp_path / "ds", format="instance-folder"), "nuclei")
    s = cat.sample("nuclei", "a")
    assert (s["gt_kind"], s["num_instances"], s["classes"], s["channels"]) == ("ids", 3, [0, 1], 4)
    assert np.array_equal(_catalog.load_instance_ids(s), ids)


def test_resolve_file_refuses_everything_outside_the_catalog(demo, tmp_path):
    root = demo.path.parent / "shapes"
    assert demo.resolve_file("shapes", "images/shape_0001.png") == (root / "images/shape_0001.png").resolve()
    for bad in (
        "../workspace.db",
        "images/../../workspace.db",
        "/etc/passwd",
        "classes.yaml",
        "images/./shape_0001.png",
        "images\\shape_0001.png",
        "",
        "images//shape_0001.png",
    ):
        assert demo.resolve_file("shapes", bad) is None, bad
