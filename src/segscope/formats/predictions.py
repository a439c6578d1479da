"""Writing the prediction-folder layout shared by ``segscope segment`` and ``segscope predict``.

::

    OUT/classes.yaml          ClassMap.save
    OUT/masks/<id>.png        label maps (8-bit, 16-bit when needed)
    OUT/probs/<id>.npy        (H, W, C) float32 or float16 probabilities, when there are any
    OUT/overlays/<id>.png     image with coloured mask and boundaries, display only
    OUT/instances.json        COCO JSON (images, categories, RLE annotations with score),
                              when any prediction had instances
    OUT/run.json              what produced it: method, params, timestamp, version, per-image info

Every file goes to a temporary name first and is renamed when complete.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import re
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from segscope.core.classes import ClassMap
from segscope.core.image import overlay
from segscope.core.prediction import Prediction
from segscope.errors import DataError, ParameterError
from segscope.formats.files import write_image, write_mask
from segscope.utils.files import atomic_path, write_json

__all__ = ["PredictionWriter", "LAYOUT_NAMES"]

#: Everything the writer owns inside ``out_dir``; ``overwrite=True`` removes only these.
LAYOUT_NAMES = ("classes.yaml", "masks", "probs", "overlays", "instances.json", "run.json")
_SAFE_ID = re.compile(r"^[^/\\\x00]+$")


def _jsonable(obj: Any) -> Any:
    """NumPy scalars/arrays and tuples -> plain JSON types (for ``info`` dicts)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


class PredictionWriter:
    """Write predictions, one image at a time, into the prediction-folder layout.

    Parameters
    ----------
    out_dir : path
        Output folder; created if missing.
    class_map : ClassMap
        Classes of the masks; saved as ``classes.yaml`` and used for colours and COCO categories.
        The masks hold class ids, so a value mapping (a dataset whose masks store, say, 0 and
        255) is left out of ``classes.yaml``.
    overwrite : bool
        Replace the layout files of an earlier run in ``out_dir``. Without it, a folder that
        already holds any of them is refused. Other files in the folder are never touched.
    save_probs : bool
        Write ``probs/<id>.npy`` for predictions that have probabilities.
    probs_dtype : {'float32', 'float16'}
        Storage dtype of the probabilities (float16 halves the size).
    overlays : bool
        Write ``overlays/<id>.png`` when :meth:`write` gets the image.
    run_info : dict, optional
        What produced the predictions (``method``, ``params``, ...), written to ``run.json``
        with a timestamp and the segscope version. May also be set as ``writer.run_info``.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "pred"
    >>> with PredictionWriter(out, ClassMap(["background", "cell"]), run_info={"method": "otsu"}) as w:
    ...     w.write("a", Prediction(np.array([[0, 1]], np.uint8)))
    >>> sorted(p.name for p in out.iterdir())
    ['classes.yaml', 'masks', 'run.json']
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        class_map: ClassMap,
        *,
        overwrite: bool = False,
        save_probs: bool = True,
        probs_dtype: str = "float32",
        overlays: bool = True,
        run_info: dict[str, Any] | None = None,
    ) -> None:
        if probs_dtype not in ("float32", "float16"):
            raise ParameterError(f"probs_dtype '{probs_dtype}' is not supported; use float32 or float16")
        self.out = Path(out_dir)
        # The masks are written as class ids; classes.yaml with the dataset's stored-value mapping
        # (e.g. {0: 0, 255: 1}) would make every reader reject or remap them.
        self.class_map = (
            class_map if class_map.values is None else dataclasses.replace(class_map, values=None)
        )
        self.overwrite = overwrite
        self.save_probs = save_probs
        self.probs_dtype = probs_dtype
        self.overlays = overlays
        self.run_info: dict[str, Any] = dict(run_info or {})
        self.ids: list[str] = []
        self.info: dict[str, Any] = {}
        self.num_instances = 0
        self._images: list[dict[str, Any]] = []
        self._annotations: list[dict[str, Any]] = []
        self._any_instances = False
        self._opened = False
        self._closed = False
        self._started = _dt.datetime.now(_dt.UTC)

    @property
    def has_instances(self) -> bool:
        """Whether any prediction written so far had instances (then ``instances.json`` is written)."""
        return self._any_instances

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> PredictionWriter:
        """Check and prepare ``out_dir`` (called by ``with`` and by the first :meth:`write`)."""
        if self._opened:
            return self
        if self.out.exists() and not self.out.is_dir():
            raise DataError(f"{self.out}: exists and is not a folder; choose another output folder")
        existing = [n for n in LAYOUT_NAMES if (self.out / n).exists()]
        if existing and not self.overwrite:
            raise DataError(
                f"{self.out}: already holds predictions ({', '.join(existing)}); "
                "choose another output folder or pass --overwrite"
            )
        for name in existing:
            path = self.out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        self.out.mkdir(parents=True, exist_ok=True)
        self.class_map.save(self.out / "classes.yaml")
        self._opened = True
        return self

    def __enter__(self) -> PredictionWriter:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(complete=exc_type is None)

    def close(self, *, complete: bool = True) -> None:
        """Write ``instances.json`` (when any prediction had instances) and ``run.json``.

        ``complete=False`` (used when the ``with`` block raised) still writes what was
        predicted, and marks ``run.json`` with ``"complete": false``.
        """
        if self._closed:
            return
        self.open()
        self._closed = True
        if self._any_instances:
            write_json(self.out / "instances.json", self.coco(), indent=None)
        import segscope

        finished = _dt.datetime.now(_dt.UTC)
        run = {
            **_jsonable(self.run_info),
            "timestamp": self._started.isoformat(timespec="seconds"),
            "seconds": round((finished - self._started).total_seconds(), 3),
            "segscope_version": segscope.__version__,
            "complete": complete,
            "num_images": len(self.ids),
            "num_instances": self.num_instances if self._any_instances else None,
            "images": self.info,
        }
        write_json(self.out / "run.json", run)

    # ------------------------------------------------------------------ writing
    def write(self, sample_id: str, prediction: Prediction, image: np.ndarray | None = None) -> None:
        """Write one prediction: mask, probs, overlay (when ``image`` is given), instances.

        Raises
        ------
        DataError
            On a sample id that is empty, has a path separator or was written before, on a
            mask value outside the class map (except segment maps), or an image of another size.
        """
        if self._closed:
            raise DataError(f"{self.out}: writer is closed; open a new PredictionWriter")
        self.open()
        sample_id = str(sample_id)
        if not _SAFE_ID.match(sample_id) or sample_id in (".", ".."):
            raise DataError(f"sample id {sample_id!r} cannot be a file name; use an id without '/' or '\\'")
        if sample_id in self.info:
            raise DataError(
                f"sample id '{sample_id}' was written twice to {self.out}; give each image a unique id"
            )
        mask = np.asarray(prediction.mask)
        segments = prediction.info.get("kind") == "segments"
        if not segments:
            self.class_map.check(mask, source=f"prediction '{sample_id}'")
        if image is not None and np.asarray(image).shape[:2] != mask.shape:
            raise DataError(
                f"prediction '{sample_id}': image shape {np.asarray(image).shape[:2]} differs from mask "
                f"shape {mask.shape}; pass the image the prediction was made from"
            )
        write_mask(self.out / "masks" / f"{sample_id}.png", mask)
        if self.save_probs and prediction.probs is not None:
            with atomic_path(self.out / "probs" / f"{sample_id}.npy") as tmp:
                np.save(tmp, np.asarray(prediction.probs, dtype=self.probs_dtype))
        if self.overlays and image is not None:
            write_image(self.out / "overlays" / f"{sample_id}.png", self.overlay(image, prediction))
        h, w = mask.shape
        image_id = len(self.ids) + 1
        self._images.append(
            {"id": image_id, "file_name": f"{sample_id}.png", "width": int(w), "height": int(h)}
        )
        if prediction.instances is not None:
            self._any_instances = True
            inst = prediction.instances
            if inst.scores is None:  # methods without a confidence: every object scores 1
                from segscope.core.instances import Instances

                inst = Instances(
                    inst.rles, inst.labels, inst.height, inst.width, np.ones(len(inst)), inst.iscrowd
                )
            anns = inst.to_coco(
                image_id, first_id=len(self._annotations) + 1, category_ids=self._category_ids()
            )
            self._annotations.extend(anns)
            self.num_instances += len(anns)
        self.ids.append(sample_id)
        self.info[sample_id] = _jsonable({k: v for k, v in prediction.info.items() if k not in ("params",)})

    def overlay(self, image: np.ndarray, prediction: Prediction) -> np.ndarray:
        """``(H, W, 3) uint8``: the image with non-background classes tinted and boundaries drawn.

        With instances, each object gets its own colour and contour (so touching objects are
        told apart); else classes are tinted and the label map's boundaries drawn
        (``skimage.segmentation.find_boundaries``).
        """
        from skimage.segmentation import find_boundaries

        mask = np.asarray(prediction.mask)
        segments = prediction.info.get("kind") == "segments"
        if segments:
            colors = self.class_map.palette()[(mask.astype(np.int64) % 254) + 1]
        else:
            colors = self.class_map.colorize(mask)
        inst = prediction.instances
        regions = mask if segments or inst is None or not len(inst) else inst.to_id_map()
        where = mask != 0
        if regions is not mask:
            # One colour per object (cycling through the palette), so touching objects differ.
            colors = self.class_map.palette()[(regions.astype(np.int64) - 1) % 254 + 1]
            where = where | (regions > 0)
        bounds = find_boundaries(regions, mode="inner")
        return overlay(image, colors, where=where, alpha=0.45, boundaries=bounds)

    # ------------------------------------------------------------------ COCO
    def _category_ids(self) -> dict[int, int]:
        from segscope.formats._classes import coco_ids

        ids = coco_ids(self.class_map)
        return {k + 1: c for k, c in enumerate(ids)} if ids else {}

    def coco(self) -> dict[str, Any]:
        """The COCO JSON of everything written so far (images, categories, annotations)."""
        mapping = self._category_ids()
        categories = [
            {"id": int(mapping.get(k, k)), "name": name}
            for k, name in enumerate(self.class_map.names)
            if k != 0
        ]
        return {
            "info": {
                "description": "segscope predictions",
                **_jsonable({"method": self.run_info.get("method")}),
            },
            "images": self._images,
            "categories": categories,
            "annotations": self._annotations,
        }
