"""The catalog and the web app at 100,000 samples: import time and request latency.

Run ``python benchmarks/app.py`` (``--n 20000`` for a smaller run, ``--data PATH`` for the folder
holding ``isbi2012_membrane``, ``--workspace FILE`` to keep the workspace).

* Import: 100,000 synthetic sample rows pointing at the 30 real ISBI 2012 image/mask files
  (classes and sizes given in the sample metadata, so no file is read: rows only), then an
  evaluation run with two per-sample values (``iou``, ``dice``) for every sample and a tag on
  every 10th sample. Each import is one transaction.
* Latency: in-process FastAPI ``TestClient`` (no network, but the full ASGI stack, routing,
  validation, SQLite queries and JSON encoding), ``--requests`` requests per row at random
  pages:  the grid page (dataset order), a sort by a metric (worst first), a filter by class,
  a filter by class + metric range sorted by the metric, a filter by tag, and one thumbnail
  (cold: rendered, then warm: from the in-memory cache).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("SEGSCOPE_PROGRESS", "0")

    from fastapi.testclient import TestClient

    from segscope.app import create_app
    from segscope.catalog import Catalog
    from segscope.core import ClassMap, Dataset, Sample

    isbi = args.data / "isbi2012_membrane"
    images = sorted((isbi / "images").glob("*.png"))
    if not images:
        raise SystemExit(f"{isbi}: no images/*.png; pass --data with the folder holding isbi2012_membrane")
    ws = args.workspace or Path(tempfile.mkdtemp()) / "bench.db"
    if ws.exists():
        ws.unlink()
    rng = np.random.default_rng(0)
    n = args.n
    cm = ClassMap(["background", "membrane", "nucleus", "vessel", "other"])
    present = rng.random((n, 4)) < [0.5, 0.3, 0.2, 0.1]
    samples = []
    for i in range(n):
        src = images[i % len(images)]
        classes = [0] + [c + 1 for c in np.nonzero(present[i])[0].tolist()]
        samples.append(
            Sample(
                f"s{i:06d}",
                image_path=src,
                mask_path=isbi / "masks" / src.name,
                load_mask=lambda: None,  # never called: classes come from metadata
                split=("train", "val", "test")[i % 3],
                metadata={"width": 512, "height": 512, "classes": classes, "channels": 1, "dtype": "uint8"},
            )
        )
    ds = Dataset(samples, cm, root=isbi)
    cat = Catalog(ws)
    t0 = time.perf_counter()
    cat.add_dataset(ds, "bench")
    t_import = time.perf_counter() - t0
    ious = rng.beta(5, 2, n)
    ious[rng.random(n) < 0.01] = np.nan
    values = {
        f"s{i:06d}": {"iou": float(ious[i]), "dice": float(2 * ious[i] / (1 + ious[i]))} for i in range(n)
    }
    t0 = time.perf_counter()
    cat.add_run("bench", "evaluation", "eval", config={"synthetic": True}, values=values)
    t_values = time.perf_counter() - t0
    t0 = time.perf_counter()
    cat.add_tags("bench", [f"s{i:06d}" for i in range(0, n, 10)], ["review"])
    t_tags = time.perf_counter() - t0
    size_mb = sum(p.stat().st_size for p in ws.parent.glob(ws.name + "*")) / 1e6

    client = TestClient(create_app(cat))
    base = "/api/datasets/bench/samples"
    pages = n // 60

    def page() -> int:
        return int(rng.integers(0, pages)) * 60

    cases = {
        "grid page (dataset order)": lambda: f"{base}?offset={page()}&limit=60",
        "sort by metric (worst first)": lambda: f"{base}?sort=eval:iou&offset={page()}&limit=60",
        "filter by class": lambda: f"{base}?classes=vessel&offset={int(rng.integers(0, 100)) * 60}&limit=60",
        "class + metric range, sorted": lambda: (
            f"{base}?classes=nucleus&range=eval:iou:0.2:0.6&sort=eval:iou&limit=60"
        ),
        "filter by tag": lambda: f"{base}?tags=review&offset={int(rng.integers(0, 100)) * 60}&limit=60",
    }
    rows = []
    for label, make in cases.items():
        client.get(make())  # warm the connection and SQLite's page cache
        times = []
        total = None
        for _ in range(args.requests):
            url = make()
            t0 = time.perf_counter()
            r = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                raise SystemExit(f"{url}: HTTP {r.status_code} {r.text}")
            total = r.json()["total"]
        rows.append((label, _pct(times, 50), _pct(times, 95), total))
    cold, warm = [], []
    for i in range(min(args.requests, 30)):
        url = f"{base}/s{i * 7:06d}/thumb.png?layer=gt&size=192"
        t0 = time.perf_counter()
        assert client.get(url).status_code == 200
        cold.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        client.get(url)
        warm.append((time.perf_counter() - t0) * 1000)
    rows.append(("thumbnail 192 px, gt overlay (cold)", _pct(cold, 50), _pct(cold, 95), None))
    rows.append(("thumbnail 192 px, gt overlay (cached)", _pct(warm, 50), _pct(warm, 95), None))

    print(
        f"workspace {ws} ({size_mb:.1f} MB), {n:,} samples; in-process TestClient, {args.requests} requests per row"
    )
    print(f"| step | time |\n|---|---:|\n| import {n:,} sample rows | {t_import:.2f} s |")
    print(f"| attach evaluation ({2 * n:,} per-sample values) | {t_values:.2f} s |")
    print(f"| tag {n // 10:,} samples | {t_tags:.2f} s |\n")
    print("| request | p50 ms | p95 ms | matching samples |\n|---|---:|---:|---:|")
    for label, p50, p95, total in rows:
        print(f"| {label} | {p50:.1f} | {p95:.1f} | {'' if total is None else f'{total:,}'} |")
    worst = max(p95 for label, _, p95, _ in rows if "thumbnail" not in label)
    print(f"\nslowest query p95: {worst:.1f} ms (goal < 200 ms): {'met' if worst < 200 else 'NOT met'}")


if __name__ == "__main__":
    main()
