"""The SQLite workspace behind ``segscope add/ls/rm`` and the web app (see the package docstring)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import math
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from segscope.core.classes import ClassMap
from segscope.errors import DataError, FormatError, ParameterError
from segscope.registry import suggest
from segscope.utils.progress import progress

if TYPE_CHECKING:
    from segscope.core.dataset import Dataset, Sample
    from segscope.evaluation.run import EvaluationResults

__all__ = ["Catalog", "Page", "MIGRATIONS", "SCHEMA_VERSION", "default_workspace"]

#: Migrations, in order: ``MIGRATIONS[i]`` takes a workspace from version ``i`` to ``i + 1``.
#: Append new ones; never edit a released one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE datasets(
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        root TEXT,
        format TEXT,
        task TEXT NOT NULL,
        class_map TEXT NOT NULL,
        notes TEXT NOT NULL DEFAULT '[]',
        num_samples INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL
    );
    CREATE TABLE samples(
        id INTEGER PRIMARY KEY,
        dataset INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        sample_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        split TEXT,
        image_path TEXT,
        mask_path TEXT,
        gt_kind TEXT,
        instances TEXT,
        width INTEGER,
        height INTEGER,
        channels INTEGER,
        dtype TEXT,
        classes TEXT NOT NULL DEFAULT '[]',
        num_instances INTEGER,
        note TEXT NOT NULL DEFAULT '',
        metadata TEXT NOT NULL DEFAULT '{}',
        UNIQUE(dataset, sample_id)
    );
    CREATE INDEX samples_position ON samples(dataset, position);
    CREATE INDEX samples_split ON samples(dataset, split, position);
    CREATE TABLE sample_classes(
        dataset INTEGER NOT NULL,
        class_id INTEGER NOT NULL,
        sample INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
        pixels INTEGER,
        PRIMARY KEY(dataset, class_id, sample)
    ) WITHOUT ROWID;
    CREATE INDEX sample_classes_sample ON sample_classes(sample);
    CREATE TABLE tags(
        dataset INTEGER NOT NULL,
        tag TEXT NOT NULL,
        sample INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
        created TEXT NOT NULL,
        PRIMARY KEY(dataset, tag, sample)
    ) WITHOUT ROWID;
    CREATE INDEX tags_sample ON tags(sample);
    CREATE TABLE runs(
        id INTEGER PRIMARY KEY,
        dataset INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        type TEXT NOT NULL,
        key TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        summary TEXT NOT NULL DEFAULT '{}',
        root TEXT,
        created TEXT NOT NULL,
        UNIQUE(dataset, key)
    );
    CREATE TABLE run_samples(
        run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        sample INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
        path TEXT,
        data TEXT,
        PRIMARY KEY(run, sample)
    ) WITHOUT ROWID;
    CREATE INDEX run_samples_sample ON run_samples(sample);
    CREATE TABLE sample_values(
        run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        sample INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
        value REAL,
        PRIMARY KEY(run, name, sample)
    ) WITHOUT ROWID;
    CREATE INDEX sample_values_sort ON sample_values(run, name, value);
    CREATE INDEX sample_values_sample ON sample_values(sample);
    CREATE TABLE confusions(
        run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        gt INTEGER NOT NULL,
        pred INTEGER NOT NULL,
        sample INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
        pixels INTEGER NOT NULL,
        PRIMARY KEY(run, gt, pred, sample)
    ) WITHOUT ROWID;
    CREATE INDEX confusions_sample ON confusions(sample);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_SAMPLE_COLUMNS = (
    "id, sample_id, position, split, image_path, mask_path, gt_kind, width, height, channels, dtype, "
    "classes, num_instances, note"
)


def default_workspace() -> Path:
    """``$SEGSCOPE_WORKSPACE`` if set, else ``~/.segscope/workspace.db``."""
    env = os.environ.get("SEGSCOPE_WORKSPACE")
    return Path(env).expanduser() if env else Path.home() / ".segscope" / "workspace.db"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _check_key(key: str, what: str = "run key") -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise ParameterError(
            f"{what} {key!r} is not valid; use letters, digits, '.', '_' and '-' (e.g. 'otsu-eval')"
        )
    return key


def _num(value: Any) -> float | None:
    """A per-sample value as stored: finite floats, ``None`` for NaN/inf; non-numbers raise."""
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    raise TypeError(type(value).__name__)


def _path(p: Path | str | None) -> str | None:
    # Absolute but not resolved: a dataset may hold symlinked files on purpose, and the app
    # checks containment on the resolved path itself (see segscope.app).
    return None if p is None else str(Path(p).absolute())


@dataclass
class Page:
    """One page of :meth:`Catalog.query`: ``rows`` (dicts) and the ``total`` number matching."""

    rows: list[dict[str, Any]]
    total: int
    offset: int = 0
    limit: int = 50
    sort: str | None = None
    value_names: list[str] = field(default_factory=list)


class Catalog:
    """A workspace of datasets, runs and per-sample values in one SQLite file.

    Parameters
    ----------
    path : path, optional
        The workspace file; :func:`default_workspace` when omitted. Created (with its folder)
        when missing, and migrated to :data:`SCHEMA_VERSION` when older.

    Raises
    ------
    DataError
        If the file is not a SQLite database or was written by a newer segscope.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> cat = Catalog(pathlib.Path(tempfile.mkdtemp()) / "ws.db")
    >>> cat.datasets()
    []
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_workspace()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    # ------------------------------------------------------------------ connections
    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: autocommit; transactions are opened explicitly by _tx().
            con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            con.row_factory = sqlite3.Row
            try:
                con.execute("PRAGMA journal_mode=WAL")
            except sqlite3.DatabaseError as exc:
                con.close()
                raise DataError(
                    f"{self.path}: is not a segscope workspace ({exc}); pass another --workspace file"
                ) from None
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=30000")
            self._local.con = con
            with self._lock:
                self._all.append(con)
        return con

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything inside commits together or not at all."""
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this object opened (in any thread)."""
        with self._lock:
            for con in self._all:
                with contextlib.suppress(sqlite3.Error):
                    con.close()
            self._all.clear()
        self._local = threading.local()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        con = self._con()
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise DataError(
                f"{self.path}: workspace schema version {version} is newer than this segscope "
                f"understands ({SCHEMA_VERSION}); upgrade segscope"
            )
        while version < SCHEMA_VERSION:
            with self._tx() as tx:
                # executescript would commit the open transaction; run statement by statement.
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        tx.execute(statement)
                tx.execute(f"PRAGMA user_version = {version + 1}")
            version += 1

    @property
    def schema_version(self) -> int:
        return int(self._con().execute("PRAGMA user_version").fetchone()[0])

    # ------------------------------------------------------------------ datasets
    def _dataset_row(self, name: str) -> sqlite3.Row:
        row = self._con().execute("SELECT * FROM datasets WHERE name = ?", (name,)).fetchone()
        if row is None:
            names = [r[0] for r in self._con().execute("SELECT name FROM datasets ORDER BY name")]
            raise DataError(
                f"no dataset named '{name}' in {self.path}{suggest(name, names)}; "
                f"datasets: {', '.join(names) or 'none (add one with segscope add DATASET --name NAME)'}"
            )
        return row

    def _dataset_id(self, name: str) -> int:
        return int(self._dataset_row(name)["id"])

    def datasets(self) -> list[dict[str, Any]]:
        """Every dataset: ``name``, ``root``, ``format``, ``task``, ``num_samples``, ``num_runs``, ``created``."""
        rows = self._con().execute(
            "SELECT d.name, d.root, d.format, d.task, d.num_samples, d.created, "
            "(SELECT count(*) FROM runs r WHERE r.dataset = d.id) AS num_runs FROM datasets d ORDER BY d.name"
        )
        return [dict(r) for r in rows]

    def dataset(self, name: str) -> dict[str, Any]:
        """One dataset's record, with its ``class_map`` (a :class:`ClassMap`), ``notes``, ``splits``."""
        row = self._dataset_row(name)
        out = dict(row)
        out["class_map"] = ClassMap.from_dict(
            json.loads(row["class_map"]), source=f"workspace dataset {name}"
        )
        out["notes"] = json.loads(row["notes"])
        out["splits"] = [
            r[0]
            for r in self._con().execute(
                "SELECT DISTINCT split FROM samples WHERE dataset = ? AND split IS NOT NULL ORDER BY split",
                (row["id"],),
            )
        ]
        return out

    def class_map(self, name: str) -> ClassMap:
        """The dataset's :class:`ClassMap`."""
        row = self._dataset_row(name)
        return ClassMap.from_dict(json.loads(row["class_map"]), source=f"workspace dataset {name}")

    def add_dataset(self, dataset: Dataset, name: str, *, overwrite: bool = False) -> DatasetSummary:
        """Add a dataset's samples (paths, split, size, classes present) under ``name``.

        Ground-truth masks are read once to record the classes present and stay on disk;
        ground truth without a mask file (COCO) is stored as RLE. Sample ``metadata`` keys
        ``width``, ``height`` and ``classes`` (list of class ids), when all present, are used
        instead of reading the files (for catalogs built from precomputed tables).

        Parameters
        ----------
        dataset : Dataset
            As returned by :func:`segscope.formats.load_dataset`.
        name : str
            Name in the workspace (letters, digits, ``._-``).
        overwrite : bool
            Replace a dataset of that name (its runs, tags and notes go too).

        Returns
        -------
        DatasetSummary
            ``name``, ``num_samples``, ``seconds``.

        Raises
        ------
        DataError
            If the name is taken (without ``overwrite``) or a mask cannot be read. Nothing is
            written then: the import is one transaction.
        """
        _check_key(name, "dataset name")
        t0 = _dt.datetime.now()
        existing = self._con().execute("SELECT id FROM datasets WHERE name = ?", (name,)).fetchone()
        if existing and not overwrite:
            raise DataError(
                f"dataset '{name}' is already in {self.path}; pass --overwrite to replace it or choose another --name"
            )
        # Read every file first, outside the write transaction, so the app stays writable meanwhile.
        records = [
            _sample_record(s, dataset, i)
            for i, s in enumerate(progress(dataset, total=len(dataset), desc=f"add {name}"))
        ]
        cm_json = json.dumps(dataset.class_map.to_dict())
        with self._tx() as con:
            if existing:
                con.execute("DELETE FROM datasets WHERE id = ?", (existing["id"],))
            cur = con.execute(
                "INSERT INTO datasets(name, root, format, task, class_map, notes, num_samples, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    _path(dataset.root),
                    dataset.format,
                    dataset.task,
                    cm_json,
                    json.dumps(list(dataset.notes)),
                    len(records),
                    _now(),
                ),
            )
            did = int(cur.lastrowid or 0)
            con.executemany(
                "INSERT INTO samples(dataset, sample_id, position, split, image_path, mask_path, gt_kind, "
                "instances, width, height, channels, dtype, classes, num_instances, metadata) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((did, *r.row) for r in records),
            )
            self._insert_sample_classes(con, did, records)
        return DatasetSummary(name, len(records), (_dt.datetime.now() - t0).total_seconds())

    def _insert_sample_classes(self, con: sqlite3.Connection, did: int, records: list[_Record]) -> None:
        ids = dict(con.execute("SELECT sample_id, id FROM samples WHERE dataset = ?", (did,)).fetchall())
        con.executemany(
            "INSERT INTO sample_classes(dataset, class_id, sample, pixels) VALUES (?, ?, ?, ?)",
            ((did, c, ids[r.sample_id], px) for r in records for c, px in r.class_pixels),
        )

    def remove_dataset(self, name: str) -> None:
        """Remove a dataset with its samples, runs, values, tags and notes (files stay on disk)."""
        did = self._dataset_id(name)
        with self._tx() as con:
            con.execute("DELETE FROM datasets WHERE id = ?", (did,))

    def load(self, name: str) -> Dataset:
        """The dataset back as a :class:`segscope.core.Dataset` (lazy loaders on the stored paths)."""
        from segscope.core.dataset import Dataset, Sample
        from segscope.formats.files import read_image

        info = self._dataset_row(name)
        cm = self.class_map(name)
        samples = []
        for r in self._con().execute(
            f"SELECT {_SAMPLE_COLUMNS}, instances FROM samples WHERE dataset = ? ORDER BY position",
            (info["id"],),
        ):
            rec = dict(r)
            samples.append(
                Sample(
                    rec["sample_id"],
                    load_image=functools.partial(read_image, Path(rec["image_path"]))
                    if rec["image_path"]
                    else None,
                    load_mask=functools.partial(load_gt_mask, rec, cm) if rec["gt_kind"] else None,
                    image_path=Path(rec["image_path"]) if rec["image_path"] else None,
                    mask_path=Path(rec["mask_path"]) if rec["mask_path"] else None,
                    split=rec["split"],
                )
            )
        return Dataset(
            samples,
            cm,
            root=Path(info["root"]) if info["root"] else None,
            format=info["format"],
            task=info["task"],
            notes=json.loads(info["notes"]),
        )

    def resolve_file(self, name: str, relpath: str) -> Path | None:
        """The file ``relpath`` (relative to the dataset root) if the catalog references it, else ``None``.

        Only an image or mask path stored for one of the dataset's samples is returned, and
        only if, with symlinks resolved, it lies inside the dataset root: ``..`` parts,
        absolute paths, backslashes and symlinks pointing out of the dataset all give ``None``.
        The app answers ``None`` with 404.
        """
        row = self._dataset_row(name)
        root = row["root"]
        if not root or not relpath or "\\" in relpath or "\x00" in relpath:
            return None
        rel = PurePosixPath(relpath)
        if rel.is_absolute() or any(part in ("..", ".", "") for part in relpath.split("/")):
            return None
        candidate = str(Path(root) / rel)
        hit = (
            self._con()
            .execute(
                "SELECT 1 FROM samples WHERE dataset = ? AND (image_path = ? OR mask_path = ?) LIMIT 1",
                (row["id"], candidate, candidate),
            )
            .fetchone()
        )
        if hit is None:
            return None
        real, real_root = os.path.realpath(candidate), os.path.realpath(root)
        if not real.startswith(real_root.rstrip(os.sep) + os.sep) or not os.path.isfile(real):
            return None
        return Path(real)

    # ------------------------------------------------------------------ samples
    def _sample_pk(self, did: int, sample_id: str, *, dataset: str) -> int:
        row = (
            self._con()
            .execute("SELECT id FROM samples WHERE dataset = ? AND sample_id = ?", (did, sample_id))
            .fetchone()
        )
        if row is None:
            raise DataError(f"dataset '{dataset}' has no sample '{sample_id}'; check the id")
        return int(row[0])

    def sample(self, name: str, sample_id: str) -> dict[str, Any]:
        """Everything about one sample: paths, size, classes, tags, note, values and run paths.

        ``values`` maps ``"KEY:NAME"`` to the number; ``runs`` maps each run key holding this
        sample to ``{"type", "path", "data"}``; ``confusions`` maps evaluation keys to
        ``[[gt, pred, pixels], ...]``.
        """
        did = self._dataset_id(name)
        con = self._con()
        row = con.execute(
            f"SELECT {_SAMPLE_COLUMNS}, instances, metadata FROM samples WHERE dataset = ? AND sample_id = ?",
            (did, sample_id),
        ).fetchone()
        if row is None:
            raise DataError(f"dataset '{name}' has no sample '{sample_id}'; check the id")
        out = dict(row)
        pk = out.pop("id")
        out["classes"] = json.loads(out["classes"])
        out["metadata"] = json.loads(out["metadata"])
        out["tags"] = [r[0] for r in con.execute("SELECT tag FROM tags WHERE sample = ? ORDER BY tag", (pk,))]
        out["values"] = {
            f"{r['key']}:{r['name']}": r["value"]
            for r in con.execute(
                "SELECT r.key, v.name, v.value FROM sample_values v JOIN runs r ON r.id = v.run "
                "WHERE v.sample = ? ORDER BY r.created, r.key, v.name",
                (pk,),
            )
        }
        out["runs"] = {
            r["key"]: {"type": r["type"], "path": r["path"], "data": json.loads(r["data"] or "null")}
            for r in con.execute(
                "SELECT r.key, r.type, s.path, s.data FROM run_samples s JOIN runs r ON r.id = s.run "
                "WHERE s.sample = ? ORDER BY r.created, r.key",
                (pk,),
            )
        }
        conf: dict[str, list[list[int]]] = {}
        for r in con.execute(
            "SELECT r.key, c.gt, c.pred, c.pixels FROM confusions c JOIN runs r ON r.id = c.run "
            "WHERE c.sample = ? ORDER BY r.key, c.pixels DESC",
            (pk,),
        ):
            conf.setdefault(r["key"], []).append([r["gt"], r["pred"], r["pixels"]])
        out["confusions"] = conf
        return out

    def sample_ids(self, name: str) -> list[str]:
        """Sample ids in dataset order."""
        did = self._dataset_id(name)
        return [
            r[0]
            for r in self._con().execute(
                "SELECT sample_id FROM samples WHERE dataset = ? ORDER BY position", (did,)
            )
        ]

    def add_tags(self, name: str, sample_ids: Iterable[str], tags: Iterable[str]) -> None:
        """Tag samples (tags already there are kept)."""
        did = self._dataset_id(name)
        tags = [_check_tag(t) for t in tags]
        with self._tx() as con:
            for sid in sample_ids:
                pk = self._sample_pk(did, sid, dataset=name)
                con.executemany(
                    "INSERT OR IGNORE INTO tags(dataset, tag, sample, created) VALUES (?, ?, ?, ?)",
                    ((did, t, pk, _now()) for t in tags),
                )

    def remove_tags(self, name: str, sample_ids: Iterable[str], tags: Iterable[str]) -> None:
        """Remove tags from samples (absent tags are ignored)."""
        did = self._dataset_id(name)
        tags = list(tags)
        with self._tx() as con:
            for sid in sample_ids:
                pk = self._sample_pk(did, sid, dataset=name)
                con.executemany("DELETE FROM tags WHERE tag = ? AND sample = ?", ((t, pk) for t in tags))

    def tags(self, name: str) -> dict[str, int]:
        """Tag -> number of samples carrying it."""
        did = self._dataset_id(name)
        return {
            r[0]: r[1]
            for r in self._con().execute(
                "SELECT tag, count(*) FROM tags WHERE dataset = ? GROUP BY tag ORDER BY tag",
                (did,),
            )
        }

    def set_note(self, name: str, sample_id: str, text: str) -> None:
        """Set (replace) the free-text note of a sample; an empty string clears it."""
        did = self._dataset_id(name)
        with self._tx() as con:
            pk = self._sample_pk(did, sample_id, dataset=name)
            con.execute("UPDATE samples SET note = ? WHERE id = ?", (str(text), pk))

    # ------------------------------------------------------------------ runs
    def add_run(
        self,
        name: str,
        type: str,
        key: str,
        *,
        config: Mapping[str, Any] | None = None,
        summary: Mapping[str, Any] | None = None,
        root: str | os.PathLike[str] | None = None,
        paths: Mapping[str, str | os.PathLike[str]] | None = None,
        data: Mapping[str, Any] | None = None,
        values: Mapping[str, Mapping[str, Any]] | None = None,
        confusions: Mapping[str, Iterable[tuple[int, int, int]]] | None = None,
        overwrite: bool = False,
    ) -> dict[str, Any]:
        """Store a run of any kind (prediction, evaluation, curation, ...) under ``key``.

        Parameters
        ----------
        name : str
            Dataset name.
        type : str
            ``"prediction"``, ``"evaluation"``, ``"curation"`` or another word.
        key : str
            Unique within the dataset (letters, digits, ``._-``).
        config, summary : dict, optional
            JSON-serialisable: what produced the run, and its dataset-level results.
        root : path, optional
            Folder the run's files live in.
        paths : dict, optional
            ``sample_id -> file`` (e.g. the predicted mask).
        data : dict, optional
            ``sample_id -> JSON value`` (any per-sample payload).
        values : dict, optional
            ``sample_id -> {value_name: number}``; the app sorts and filters on them as
            ``"KEY:value_name"``. NaN and infinities are stored as missing.
        confusions : dict, optional
            ``sample_id -> [(gt_class, pred_class, pixels), ...]`` for the confusion view.
        overwrite : bool
            Replace a run with this key.

        Returns
        -------
        dict
            The run record (``type``, ``key``, ``config``, ``summary``, ``root``, ``created``,
            ``num_samples``).

        Raises
        ------
        DataError
            On a key in use (without ``overwrite``) or a sample id not in the dataset.
            Nothing is written then.
        """
        _check_key(key)
        if not isinstance(type, str) or not type.strip():
            raise ParameterError("run type must be a non-empty word such as 'prediction' or 'curation'")
        did = self._dataset_id(name)
        con = self._con()
        ids = dict(con.execute("SELECT sample_id, id FROM samples WHERE dataset = ?", (did,)).fetchall())
        paths, data, values, confusions = paths or {}, data or {}, values or {}, confusions or {}
        unknown = [s for m in (paths, data, values, confusions) for s in m if s not in ids]
        if unknown:
            raise DataError(
                f"run '{key}': {len(set(unknown))} sample ids are not in dataset '{name}' "
                f"(e.g. '{unknown[0]}'); attach runs to the dataset they were computed on"
            )
        value_rows = []
        for sid, vals in values.items():
            for vname, v in vals.items():
                try:
                    value_rows.append((str(vname), ids[sid], _num(v)))
                except TypeError:
                    raise DataError(
                        f"run '{key}': value '{vname}' of sample '{sid}' is a {v.__class__.__name__}, "
                        "not a number; store non-numbers in data="
                    ) from None
        try:
            cfg_json, sum_json = json.dumps(dict(config or {})), json.dumps(dict(summary or {}))
            data_json = {sid: json.dumps(v) for sid, v in data.items()}
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"run '{key}': config, summary and data must be JSON-serialisable ({exc})"
            ) from None
        with self._tx() as tx:
            old = tx.execute("SELECT id FROM runs WHERE dataset = ? AND key = ?", (did, key)).fetchone()
            if old is not None:
                if not overwrite:
                    raise DataError(
                        f"dataset '{name}' already has a run '{key}'; pass --overwrite or choose another --key"
                    )
                tx.execute("DELETE FROM runs WHERE id = ?", (old[0],))
            cur = tx.execute(
                "INSERT INTO runs(dataset, type, key, config, summary, root, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (did, type.strip(), key, cfg_json, sum_json, _path(root), _now()),
            )
            rid = int(cur.lastrowid or 0)
            per_sample = set(paths) | set(data)
            tx.executemany(
                "INSERT INTO run_samples(run, sample, path, data) VALUES (?, ?, ?, ?)",
                (
                    (rid, ids[sid], _path(paths[sid]) if sid in paths else None, data_json.get(sid))
                    for sid in per_sample
                ),
            )
            tx.executemany(
                "INSERT INTO sample_values(run, name, sample, value) VALUES (?, ?, ?, ?)",
                ((rid, n, s, v) for n, s, v in value_rows),
            )
            tx.executemany(
                "INSERT INTO confusions(run, gt, pred, sample, pixels) VALUES (?, ?, ?, ?, ?)",
                (
                    (rid, int(a), int(b), ids[sid], int(px))
                    for sid, pairs in confusions.items()
                    for a, b, px in pairs
                    if int(px) > 0
                ),
            )
        return self.run(name, key)

    def runs(self, name: str, type: str | None = None) -> list[dict[str, Any]]:
        """The dataset's runs (optionally of one type), oldest first, with ``value_names``."""
        did = self._dataset_id(name)
        sql = (
            "SELECT * FROM runs WHERE dataset = ?"
            + (" AND type = ?" if type else "")
            + " ORDER BY created, id"
        )
        args: tuple[Any, ...] = (did, type) if type else (did,)
        return [self._run_record(r) for r in self._con().execute(sql, args).fetchall()]

    def _run_record(self, row: sqlite3.Row) -> dict[str, Any]:
        con = self._con()
        out = {
            "type": row["type"],
            "key": row["key"],
            "config": json.loads(row["config"]),
            "summary": json.loads(row["summary"]),
            "root": row["root"],
            "created": row["created"],
        }
        out["num_samples"] = con.execute(
            "SELECT count(*) FROM (SELECT sample FROM run_samples WHERE run = ? "
            "UNION SELECT sample FROM sample_values WHERE run = ?)",
            (row["id"], row["id"]),
        ).fetchone()[0]
        out["value_names"] = [
            r[0] for r in con.execute("SELECT DISTINCT name FROM sample_values WHERE run = ?", (row["id"],))
        ]
        return out

    def _run_row(self, name: str, key: str) -> sqlite3.Row:
        did = self._dataset_id(name)
        row = self._con().execute("SELECT * FROM runs WHERE dataset = ? AND key = ?", (did, key)).fetchone()
        if row is None:
            keys = [r[0] for r in self._con().execute("SELECT key FROM runs WHERE dataset = ?", (did,))]
            raise DataError(
                f"dataset '{name}' has no run '{key}'{suggest(key, keys)}; runs: {', '.join(keys) or 'none'}"
            )
        return row

    def run(self, name: str, key: str) -> dict[str, Any]:
        """One run's record (see :meth:`add_run`)."""
        return self._run_record(self._run_row(name, key))

    def remove_run(self, name: str, key: str) -> None:
        """Remove a run with its per-sample paths, values and confusions."""
        rid = self._run_row(name, key)["id"]
        with self._tx() as con:
            con.execute("DELETE FROM runs WHERE id = ?", (rid,))

    def run_samples(self, name: str, key: str) -> dict[str, dict[str, Any]]:
        """``sample_id -> {"path", "data"}`` of a run."""
        rid = self._run_row(name, key)["id"]
        return {
            r[0]: {"path": r[1], "data": json.loads(r[2] or "null")}
            for r in self._con().execute(
                "SELECT s.sample_id, rs.path, rs.data FROM run_samples rs JOIN samples s ON s.id = rs.sample "
                "WHERE rs.run = ? ORDER BY s.position",
                (rid,),
            )
        }

    def values(self, name: str, key: str) -> dict[str, dict[str, float | None]]:
        """``sample_id -> {value_name: value}`` of a run (``None`` where the value was NaN)."""
        rid = self._run_row(name, key)["id"]
        out: dict[str, dict[str, float | None]] = {}
        for r in self._con().execute(
            "SELECT s.sample_id, v.name, v.value FROM sample_values v JOIN samples s ON s.id = v.sample "
            "WHERE v.run = ? ORDER BY s.position",
            (rid,),
        ):
            out.setdefault(r[0], {})[r[1]] = r[2]
        return out

    def value_names(self, name: str) -> list[str]:
        """Every sortable value of the dataset, as ``"KEY:NAME"``."""
        did = self._dataset_id(name)
        out = []
        for r in (
            self._con()
            .execute("SELECT id, key FROM runs WHERE dataset = ? ORDER BY created, id", (did,))
            .fetchall()
        ):
            names = [
                n[0]
                for n in self._con().execute("SELECT DISTINCT name FROM sample_values WHERE run = ?", (r[0],))
            ]
            out += [f"{r[1]}:{n}" for n in sorted(names, key=_value_order)]
        return out

    def _value_ref(self, did: int, name: str, ref: str) -> tuple[int, str]:
        key, sep, vname = ref.partition(":")
        if not sep or not vname:
            raise ParameterError(f"value {ref!r} must be written KEY:NAME, e.g. 'otsu-eval:iou'")
        row = self._con().execute("SELECT id FROM runs WHERE dataset = ? AND key = ?", (did, key)).fetchone()
        if row is None:
            self._run_row(name, key)  # raises with the valid keys
        return int(row[0]), vname

    # ------------------------------------------------------------------ predictions / evaluations
    def add_predictions(
        self,
        name: str,
        pred_dir: str | os.PathLike[str],
        *,
        key: str,
        overwrite: bool = False,
    ) -> dict[str, Any]:
        """Attach a prediction folder (``segscope segment`` / ``predict`` layout) as run ``key``.

        Per sample it stores the mask path (``path``) and, in ``data``, the ``probs`` and
        ``overlay`` paths that exist; ``run.json`` becomes the run's ``config``.

        Raises
        ------
        DataError
            If the folder has no ``masks/``, or none of its masks matches a sample id.
        """
        from segscope.formats.files import list_files

        root = Path(pred_dir)
        if not (root / "masks").is_dir():
            raise DataError(
                f"{root}: has no masks/ folder; give the --out folder of segscope segment or predict"
            )
        ids = set(self.sample_ids(name))
        masks = {p.stem: p for p in list_files(root / "masks")}
        matched = {sid: p for sid, p in masks.items() if sid in ids}
        if not matched:
            raise DataError(
                f"{root}: none of its {len(masks)} masks matches a sample id of dataset '{name}'; "
                "check that the predictions were made on this dataset"
            )
        config: dict[str, Any] = {}
        if (root / "run.json").is_file():
            config = json.loads((root / "run.json").read_text(encoding="utf-8"))
            config.pop("images", None)  # per-image info can be large; it stays in run.json
        data = {}
        for sid in matched:
            extra = {}
            for kind, sub, ext in (("probs", "probs", ".npy"), ("overlay", "overlays", ".png")):
                p = root / sub / f"{sid}{ext}"
                if p.is_file():
                    extra[kind] = str(p.absolute())
            data[sid] = extra
        summary = {"num_masks": len(masks), "matched": len(matched), "unmatched": len(masks) - len(matched)}
        return self.add_run(
            name,
            "prediction",
            key,
            config=config,
            summary=summary,
            root=root,
            paths=matched,
            data=data,
            overwrite=overwrite,
        )

    def add_evaluation(
        self,
        name: str,
        results: EvaluationResults | str | os.PathLike[str],
        *,
        key: str,
        pred_run: str | None = None,
        overwrite: bool = False,
    ) -> dict[str, Any]:
        """Attach evaluation results (per-sample metrics, confusion matrix, per-class scores).

        Parameters
        ----------
        name : str
            Dataset name.
        results : EvaluationResults or path
            The results, or the JSON file written by ``segscope evaluate --json``.
        key : str
            Run key (unique in the dataset).
        pred_run : str, optional
            Key of the prediction run that was evaluated. Per-sample confusion pairs (for
            "which samples confuse a with b") are then computed from the ground-truth and
            predicted masks on disk, and the app draws the error map from that run.
        """
        from segscope.evaluation.run import EvaluationResults

        if not isinstance(results, EvaluationResults):
            results = EvaluationResults.load(results)
        ids = set(self.sample_ids(name))
        values = {}
        skipped = 0
        for row in results.per_sample:
            sid = str(row.get("id"))
            if sid not in ids:
                skipped += 1
                continue
            values[sid] = {
                k: v
                for k, v in row.items()
                if k != "id"
                and isinstance(v, int | float | np.integer | np.floating)
                and not isinstance(v, bool)
            }
        if results.per_sample and not values:
            raise DataError(
                f"evaluation '{key}': none of its {len(results.per_sample)} samples is in dataset '{name}'; "
                "attach it to the dataset that was evaluated"
            )
        summary = results.to_dict()
        summary.pop("per_sample", None)
        summary["pred_run"] = pred_run
        summary["skipped_samples"] = skipped
        confusions = {}
        if pred_run is not None:
            confusions = self._confusions(name, pred_run, len(results.classes) or None, results.ignore_index)
        return self.add_run(
            name,
            "evaluation",
            key,
            config=results.config.to_dict(),
            summary=summary,
            values=values,
            confusions=confusions,
            overwrite=overwrite,
        )

    def _confusions(
        self, name: str, pred_run: str, num_classes: int | None, ignore_index: int | None
    ) -> dict[str, list[tuple[int, int, int]]]:
        from segscope.formats.files import read_mask
        from segscope.metrics.semantic import confusion_matrix

        cm = self.class_map(name)
        c = num_classes or cm.num_classes
        preds = self.run_samples(name, pred_run)
        did = self._dataset_id(name)
        out: dict[str, list[tuple[int, int, int]]] = {}
        rows = (
            self._con()
            .execute(
                f"SELECT {_SAMPLE_COLUMNS}, instances FROM samples WHERE dataset = ? AND gt_kind IS NOT NULL "
                "ORDER BY position",
                (did,),
            )
            .fetchall()
        )
        for r in progress(rows, total=len(rows), desc=f"confusions {pred_run}"):
            p = preds.get(r["sample_id"], {}).get("path")
            if not p:
                continue
            gt = load_gt_mask(dict(r), cm)
            pred = read_mask(p)
            if pred.shape != gt.shape or pred.max(initial=0) >= c:
                continue  # evaluate() reports these; the confusion view just leaves the sample out
            m = confusion_matrix(gt, pred, c, ignore_index=ignore_index)
            a, b = np.nonzero(m)
            out[r["sample_id"]] = [
                (int(i), int(j), int(m[i, j])) for i, j in zip(a, b, strict=True) if i != j
            ]
        return out

    def confusion_samples(
        self, name: str, key: str, gt: int, pred: int, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Samples of evaluation ``key`` with pixels of class ``gt`` predicted as ``pred``, most first."""
        rid = self._run_row(name, key)["id"]
        return [
            {"sample_id": r[0], "pixels": r[1]}
            for r in self._con().execute(
                "SELECT s.sample_id, c.pixels FROM confusions c JOIN samples s ON s.id = c.sample "
                "WHERE c.run = ? AND c.gt = ? AND c.pred = ? ORDER BY c.pixels DESC LIMIT ?",
                (rid, int(gt), int(pred), int(limit)),
            )
        ]

    def compare(
        self, name: str, key_a: str, key_b: str, *, metric: str = "iou", limit: int = 100
    ) -> list[dict[str, Any]]:
        """Per-sample ``metric`` of two runs, the samples where ``key_b`` is worse than ``key_a`` first.

        Returns rows ``{"sample_id", "a", "b", "diff"}`` with ``diff = b - a``, sorted ascending
        (samples missing the metric in either run are left out).
        """
        ra, rb = self._run_row(name, key_a)["id"], self._run_row(name, key_b)["id"]
        return [
            dict(r)
            for r in self._con().execute(
                "SELECT s.sample_id, va.value AS a, vb.value AS b, vb.value - va.value AS diff "
                "FROM sample_values va JOIN sample_values vb ON vb.sample = va.sample AND vb.run = ? AND vb.name = ? "
                "JOIN samples s ON s.id = va.sample "
                "WHERE va.run = ? AND va.name = ? AND va.value IS NOT NULL AND vb.value IS NOT NULL "
                "ORDER BY diff, s.position LIMIT ?",
                (rb, metric, ra, metric, int(limit)),
            )
        ]

    # ------------------------------------------------------------------ queries
    def query(
        self,
        name: str,
        *,
        split: str | None = None,
        classes: Sequence[int | str] = (),
        tags: Sequence[str] = (),
        ranges: Mapping[str, tuple[float | None, float | None]] | None = None,
        sort: str | None = None,
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
        with_values: Sequence[str] = (),
    ) -> Page:
        """A page of samples matching every filter, in dataset order or sorted by a value.

        Parameters
        ----------
        name : str
            Dataset name.
        split : str, optional
        classes : sequence of int or str
            Class ids or names that must all be present in the ground truth.
        tags : sequence of str
            Tags the sample must all carry.
        ranges : dict, optional
            ``"KEY:NAME" -> (low, high)`` inclusive; ``None`` leaves a side open.
        sort : str, optional
            ``"KEY:NAME"`` to sort by a value (ascending: worst first for scores like IoU;
            samples without the value last), ``"id"``, or dataset order when omitted.
        descending : bool
        offset, limit : int
            The page.
        with_values : sequence of str
            Extra ``"KEY:NAME"`` values to return in each row's ``values``.

        Returns
        -------
        Page
            ``rows`` with ``sample_id``, ``split``, ``width``, ``height``, ``classes``, ``tags``,
            ``note``, ``values`` (the sort value and ``with_values``), and ``total``.
        """
        # Two steps, both index-only until the last: (1) the page's sample keys, from an
        # INTERSECT of per-filter key sets and, for a value sort, a walk of the
        # (run, name, value) index; (2) the details of those <= limit samples. Sample keys
        # follow dataset order (one import inserts them in order), so no sort is needed for
        # the default order. This keeps deep pages of 100,000 samples in milliseconds.
        row = self._dataset_row(name)
        did = int(row["id"])
        con = self._con()
        cm = ClassMap.from_dict(json.loads(row["class_map"]), source=f"workspace dataset {name}")
        # Each filter is a key set (base) and a primary-key probe; the first filter is the base
        # and the others probe it, so no set is materialised (INTERSECT of 20k x 60k keys
        # costs ~100 ms at 100,000 samples, the probes a few).
        conds: list[tuple[str, str, list[Any]]] = []  # (base sql giving k, probe sql on {k}, args)
        if split:
            conds.append(
                (
                    "SELECT id AS k FROM samples WHERE dataset = ? AND split = ?",
                    "EXISTS (SELECT 1 FROM samples x WHERE x.id = {k} AND x.dataset = ? AND x.split = ?)",
                    [did, split],
                )
            )
        for c in classes:
            conds.append(
                (
                    "SELECT sample AS k FROM sample_classes WHERE dataset = ? AND class_id = ?",
                    "EXISTS (SELECT 1 FROM sample_classes x WHERE x.dataset = ? AND x.class_id = ? AND x.sample = {k})",
                    [did, _class_id(cm, c)],
                )
            )
        for t in tags:
            conds.append(
                (
                    "SELECT sample AS k FROM tags WHERE dataset = ? AND tag = ?",
                    "EXISTS (SELECT 1 FROM tags x WHERE x.dataset = ? AND x.tag = ? AND x.sample = {k})",
                    [did, str(t)],
                )
            )
        for ref, (lo, hi) in (ranges or {}).items():
            rid, vname = self._value_ref(did, name, ref)
            bounds = [-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi)]
            conds.append(
                (
                    "SELECT sample AS k FROM sample_values WHERE run = ? AND name = ? AND value >= ? AND value <= ?",
                    "EXISTS (SELECT 1 FROM sample_values x WHERE x.run = ? AND x.name = ? AND x.sample = {k} "
                    "AND x.value >= ? AND x.value <= ?)",
                    [rid, vname, *bounds],
                )
            )

        def probes(key: str, skip_first: bool) -> tuple[str, list[Any]]:
            picked = conds[1:] if skip_first else conds
            sql = "".join(f" AND {probe.format(k=key)}" for _, probe, _ in picked)
            return sql, [a for _, _, cargs in picked for a in cargs]

        if conds:
            base_sql, _, base_args = conds[0]
            more, more_args = probes("k", True)
            ids_sql = f"SELECT k FROM ({base_sql}) WHERE 1{more}"
            ids_args = [*base_args, *more_args]
            total = con.execute(f"SELECT count(*) FROM ({ids_sql})", ids_args).fetchone()[0]
        else:
            ids_sql, ids_args = "SELECT id AS k FROM samples WHERE dataset = ?", [did]
            total = row["num_samples"]
        offset, limit = max(0, int(offset)), max(0, min(int(limit), 1000))
        direction = "DESC" if descending else "ASC"
        sort_ref: tuple[int, str] | None = None
        if sort and sort not in ("id", "position"):
            sort_ref = self._value_ref(did, name, sort)
        if sort_ref is not None:
            rid, vname = sort_ref
            having, having_args = probes("sv.sample", False)
            valued = (
                f"FROM sample_values sv WHERE sv.run = ? AND sv.name = ? AND sv.value IS NOT NULL{having}"
            )
            keys = [
                r[0]
                for r in con.execute(
                    f"SELECT sv.sample {valued} ORDER BY sv.value {direction}, sv.sample {direction} LIMIT ? OFFSET ?",
                    [rid, vname, *having_args, limit, offset],
                )
            ]
            if len(keys) < limit:  # past the valued samples: those without the value follow, in dataset order
                if keys:
                    with_value = offset + len(keys)
                else:
                    with_value = con.execute(
                        f"SELECT count(*) {valued}", [rid, vname, *having_args]
                    ).fetchone()[0]
                keys += [
                    r[0]
                    for r in con.execute(
                        f"SELECT k FROM ({ids_sql}) WHERE NOT EXISTS (SELECT 1 FROM sample_values y "
                        "WHERE y.run = ? AND y.name = ? AND y.sample = k AND y.value IS NOT NULL) "
                        "ORDER BY k LIMIT ? OFFSET ?",
                        [*ids_args, rid, vname, limit - len(keys), max(0, offset - with_value)],
                    )
                ]
        elif sort == "id":
            keys = [
                r[0]
                for r in con.execute(
                    f"SELECT id FROM samples WHERE id IN ({ids_sql}) ORDER BY sample_id {direction} LIMIT ? OFFSET ?",
                    [*ids_args, limit, offset],
                )
            ]
        elif not conds:
            keys = [
                r[0]
                for r in con.execute(
                    f"SELECT id FROM samples WHERE dataset = ? ORDER BY position {direction} LIMIT ? OFFSET ?",
                    [did, limit, offset],
                )
            ]
        else:
            keys = [
                r[0]
                for r in con.execute(
                    f"SELECT k FROM ({ids_sql}) ORDER BY k {direction} LIMIT ? OFFSET ?",
                    [*ids_args, limit, offset],
                )
            ]
        out = []
        tag_map: dict[int, list[str]] = {}
        values: dict[int, dict[str, float | None]] = {}
        details: dict[int, sqlite3.Row] = {}
        if keys:
            marks = ",".join("?" * len(keys))
            details = {
                r["id"]: r
                for r in con.execute(
                    "SELECT id, sample_id, split, width, height, classes, note, num_instances "
                    f"FROM samples WHERE id IN ({marks})",
                    keys,
                )
            }
            for r in con.execute(
                f"SELECT sample, tag FROM tags WHERE sample IN ({marks}) ORDER BY tag", keys
            ):
                tag_map.setdefault(r[0], []).append(r[1])
            refs = list(dict.fromkeys([*([sort] if sort_ref else []), *with_values]))
            for ref in refs:
                rid, vname = self._value_ref(did, name, ref)
                for r in con.execute(
                    f"SELECT sample, value FROM sample_values WHERE run = ? AND name = ? AND sample IN ({marks})",
                    [rid, vname, *keys],
                ):
                    values.setdefault(r[0], {})[ref] = r[1]
        for k in keys:
            r = details[k]
            vals = values.get(k, {})
            if sort_ref is not None:
                vals.setdefault(sort, None)  # type: ignore[arg-type]
            out.append(
                {
                    "sample_id": r["sample_id"],
                    "split": r["split"],
                    "width": r["width"],
                    "height": r["height"],
                    "classes": json.loads(r["classes"]),
                    "num_instances": r["num_instances"],
                    "note": r["note"],
                    "tags": tag_map.get(k, []),
                    "values": vals,
                }
            )
        return Page(out, int(total), offset, limit, sort, list(with_values))


# ---------------------------------------------------------------------- helpers
@dataclass
class DatasetSummary:
    """What :meth:`Catalog.add_dataset` did."""

    name: str
    num_samples: int
    seconds: float


@dataclass
class _Record:
    sample_id: str
    row: tuple[Any, ...]
    class_pixels: list[tuple[int, int | None]]


def _check_tag(tag: str) -> str:
    tag = str(tag).strip()
    if not tag or len(tag) > 100:
        raise ParameterError(f"tag {tag!r} must be 1 to 100 characters")
    return tag


def _class_id(cm: ClassMap, c: int | str) -> int:
    if isinstance(c, int | np.integer) or (isinstance(c, str) and c.isdigit()):
        return int(c)
    if c in cm.names:
        return cm.names.index(c)
    raise ParameterError(
        f"class {c!r} is not in the class map{suggest(str(c), list(cm.names))}; classes: {', '.join(cm.names)}"
    )


def _value_order(name: str) -> tuple[int, str]:
    # Headline metrics first in menus, per-class ones (iou/<class>) after.
    first = ("iou", "dice", "boundary_iou", "pixel_accuracy", "AP", "dsb_score", "ece")
    return (first.index(name) if name in first else len(first) + ("/" in name), name)


def _gt_kind(s: Sample) -> str | None:
    from segscope.formats import _folder

    lm = s.load_mask
    if isinstance(lm, functools.partial):
        if lm.func is _folder.load_label_mask:
            return "label"
        if lm.func is _folder.load_id_semantic:
            return "ids"
    if s.mask_path is not None and lm is not None:
        return "label"
    if s.load_instances is not None:
        return "rle"
    return None


def _image_header(path: Path | None) -> tuple[int | None, int | None, int | None, str | None]:
    """(width, height, channels, dtype) without decoding the pixels where the format allows."""
    if path is None:
        return None, None, None, None
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, mmap_mode="r")
            return (
                int(arr.shape[1]),
                int(arr.shape[0]),
                1 if arr.ndim == 2 else int(arr.shape[2]),
                str(arr.dtype),
            )
        if suffix in (".npz",):
            from segscope.formats.files import read_image

            arr = read_image(path)
            return (
                int(arr.shape[1]),
                int(arr.shape[0]),
                1 if arr.ndim == 2 else int(arr.shape[2]),
                str(arr.dtype),
            )
        from PIL import Image

        with Image.open(path) as img:
            bands = len(img.getbands())
            mode = img.mode
            dtype = (
                "uint16"
                if mode.startswith("I;16")
                else "int32"
                if mode == "I"
                else "float32"
                if mode == "F"
                else "uint8"
            )
            return int(img.width), int(img.height), bands, dtype
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the image header ({exc}); check the file") from None


def _sample_record(s: Sample, ds: Dataset, position: int) -> _Record:
    kind = _gt_kind(s)
    md = dict(s.metadata)
    instances_json = None
    num_instances = None
    precomputed = all(k in md for k in ("width", "height", "classes"))
    width, height, channels, dtype = (None, None, md.pop("channels", None), md.pop("dtype", None))
    if not precomputed:
        width, height, channels, dtype = _image_header(s.image_path)
    if precomputed:
        width, height = int(md.pop("width")), int(md.pop("height"))
        class_pixels: list[tuple[int, int | None]] = [(int(c), None) for c in md.pop("classes")]
    else:
        class_pixels = []
        mask = None
        if kind == "ids":
            from segscope.formats.files import read_mask

            ids = read_mask(s.mask_path)  # type: ignore[arg-type]
            num_instances = int(len(np.unique(ids)) - (1 if (ids == 0).any() else 0))
            mask = (ids > 0).astype(np.uint8)
        elif kind == "rle":
            inst = s.instances
            if inst is not None:
                instances_json = json.dumps(_instances_to_json(inst))
                num_instances = len(inst)
                mask = inst.to_semantic(ignore_index=ds.class_map.ignore_index)
        elif s.has_gt:
            mask = s.mask
        if mask is not None:
            counts = np.bincount(np.asarray(mask, np.int64).ravel())
            class_pixels = [(int(c), int(n)) for c in np.nonzero(counts)[0] for n in (counts[c],)]
            if height is None:
                height, width = int(mask.shape[0]), int(mask.shape[1])
    classes = sorted(c for c, _ in class_pixels)
    try:
        md_json = json.dumps(md)
    except (TypeError, ValueError):
        raise FormatError(
            f"sample '{s.id}': metadata is not JSON-serialisable; keep it to plain types"
        ) from None
    row = (
        s.id,
        position,
        s.split,
        _path(s.image_path),
        _path(s.mask_path),
        kind,
        instances_json,
        width,
        height,
        channels,
        dtype,
        json.dumps(classes),
        num_instances,
        md_json,
    )
    return _Record(s.id, row, class_pixels)


def _instances_to_json(inst: Any) -> dict[str, Any]:
    rles = []
    for rle in inst.rles:
        counts = rle["counts"]
        rles.append(
            {"size": list(rle["size"]), "counts": counts.decode() if isinstance(counts, bytes) else counts}
        )
    return {
        "height": inst.height,
        "width": inst.width,
        "rles": rles,
        "labels": inst.labels.tolist(),
        "iscrowd": inst.iscrowd.tolist(),
    }


def instances_from_json(data: Mapping[str, Any]) -> Any:
    """Rebuild :class:`segscope.core.Instances` from the stored RLE JSON."""
    from segscope.core.instances import Instances

    rles = [{"size": r["size"], "counts": r["counts"].encode()} for r in data["rles"]]
    return Instances(rles, data["labels"], data["height"], data["width"], iscrowd=data["iscrowd"])


def load_gt_mask(rec: Mapping[str, Any], cm: ClassMap) -> np.ndarray:
    """The ``(H, W)`` class-id ground truth of a stored sample record (as :meth:`Catalog.sample` returns).

    Uses the dataset readers' own loaders, so palette, RGB, 0/255 and 16-bit masks decode
    exactly as :func:`segscope.formats.load_dataset` decodes them.
    """
    from segscope.formats import _folder

    kind, path = rec.get("gt_kind"), rec.get("mask_path")
    source = str(path or rec.get("sample_id"))
    if kind == "label" and path:
        return _folder.load_label_mask(Path(path), source, cm)
    if kind == "ids" and path:
        return _folder.load_id_semantic(Path(path), source)
    if kind == "rle" and rec.get("instances"):
        inst = instances_from_json(json.loads(rec["instances"]))
        return inst.to_semantic(ignore_index=cm.ignore_index)
    raise DataError(f"sample '{rec.get('sample_id')}' has no ground truth stored on disk")


def load_instance_ids(rec: Mapping[str, Any]) -> np.ndarray | None:
    """``(H, W)`` instance ids of a stored sample (0 = background), or ``None`` for semantic gt."""
    from segscope.formats.files import read_mask

    if rec.get("gt_kind") == "ids" and rec.get("mask_path"):
        return read_mask(rec["mask_path"])
    if rec.get("gt_kind") == "rle" and rec.get("instances"):
        return instances_from_json(json.loads(rec["instances"])).to_id_map()
    return None
