"""The catalog: a persistent workspace of datasets, runs and per-sample values in one SQLite file.

No server to start: the workspace is one file (default ``~/.segscope/workspace.db``, or
``$SEGSCOPE_WORKSPACE``, or ``--workspace PATH``), opened in WAL mode so the web app can read
while a CLI command writes. Every import is one transaction: an interrupted import leaves the
workspace as it was. The schema is versioned with ``PRAGMA user_version`` and a list of
migrations (:data:`MIGRATIONS`). Masks and images stay on disk and are referenced by path;
COCO ground truth without mask files is stored as RLE.

What is stored
--------------
- **datasets**: name, root, format, task, class map, notes.
- **samples**: ``sample_id``, split, image/mask paths, size, channels, dtype, classes present
  (and their pixel counts), COCO RLE instances where there is no mask file, a note, tags.
- **runs**: a generic, key-based record for anything computed over a dataset:
  ``type`` (``"prediction"``, ``"evaluation"``, ``"curation"`` or any word), ``key`` (unique
  within the dataset, letters/digits/``._-``), ``config`` (JSON), ``summary`` (JSON), ``root``
  (a folder, optional) and ``created``. Per run and sample it holds

  - a ``path`` and a free JSON ``data`` payload (``run_samples``), e.g. the prediction mask,
    a duplicate group, an embedding file;
  - any number of named numeric ``values`` (``sample_values``), e.g. ``iou``, ``dice``,
    ``label_error_score``; NaN is stored as NULL. Values are what the app sorts and filters on,
    referenced as ``"KEY:NAME"`` (e.g. ``"otsu-eval:iou"``);
  - confusion pairs (truth ``a``, predicted ``b``, pixels), for evaluation runs.

Python API
----------
>>> import tempfile, pathlib, numpy as np
>>> from segscope.catalog import Catalog
>>> from segscope.core import ClassMap, Dataset, Sample
>>> cat = Catalog(pathlib.Path(tempfile.mkdtemp()) / "ws.db")
>>> ds = Dataset([Sample(f"s{i}", load_mask=lambda: np.array([[0, 1]], np.uint8))
...               for i in range(3)], ClassMap(["bg", "cell"]))
>>> cat.add_dataset(ds, "toy").num_samples
3
>>> run = cat.add_run("toy", "curation", "mistakes", config={"strategy": "loss"},
...                   values={"s0": {"score": 0.9}, "s1": {"score": 0.1}},
...                   data={"s0": {"suspect": True}})
>>> page = cat.query("toy", sort="mistakes:score", descending=True)
>>> [r["sample_id"] for r in page.rows], page.total
(['s0', 's1', 's2'], 3)
>>> cat.add_tags("toy", ["s1"], ["review"]); cat.query("toy", tags=["review"]).total
1

Main methods of :class:`Catalog` (all take the dataset *name* first):

- ``add_dataset(dataset, name, *, overwrite=False)``, ``datasets()``, ``dataset(name)``,
  ``remove_dataset(name)``, ``load(name)`` (back to a :class:`segscope.core.Dataset`);
- ``add_run(name, type, key, *, config, summary, root, paths, data, values, confusions,
  overwrite)`` - the generic entry point every kind of run uses (curation included);
  ``runs(name, type=None)``, ``run(name, key)``, ``remove_run(name, key)``,
  ``run_samples(name, key)`` -> ``{sample_id: {"path", "data"}}``,
  ``values(name, key)`` -> ``{sample_id: {value_name: float}}``, ``value_names(name)``;
- ``add_predictions(name, pred_dir, *, key)`` (a ``segscope segment``/``predict`` folder),
  ``add_evaluation(name, results_or_json, *, key, pred_run=None)``
  (:class:`segscope.evaluation.EvaluationResults`, per-sample metrics and confusion pairs);
- ``query(name, *, split, classes, tags, ranges, sort, descending, offset, limit)`` -> ``Page``,
  ``sample(name, sample_id)``, ``confusion_samples(name, key, a, b)``,
  ``compare(name, key_a, key_b, metric=...)``;
- ``add_tags(name, sample_ids, tags)``, ``remove_tags(...)``, ``set_note(name, sample_id, text)``.

Thread-safe: each thread gets its own SQLite connection.
"""

from segscope.catalog._catalog import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Catalog,
    Page,
    default_workspace,
)

__all__ = ["Catalog", "Page", "MIGRATIONS", "SCHEMA_VERSION", "default_workspace"]
