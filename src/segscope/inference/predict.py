"""``predict_dataset``: run a predictor over a dataset and write the prediction-folder layout."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

import numpy as np

from segscope.core.classes import ClassMap
from segscope.core.dataset import Dataset
from segscope.core.prediction import Prediction
from segscope.errors import DataError, ParameterError
from segscope.inference.predictor import Predictor
from segscope.utils.progress import progress

__all__ = ["predict_dataset"]


class _StandInWriter:
    """Minimal stand-in for ``segscope.formats.predictions.PredictionWriter`` until it lands:
    writes classes.yaml, masks/, probs/, overlays/ and run.json of the prediction layout."""

    def __init__(
        self,
        out_dir: Path,
        class_map: ClassMap,
        *,
        overwrite: bool = False,
        save_probs: bool = True,
        probs_dtype: str = "float32",
        overlays: bool = True,
        run_info: dict[str, Any] | None = None,
    ) -> None:
        self.out, self.class_map = Path(out_dir), class_map
        self.save_probs, self.probs_dtype, self.overlays = save_probs, probs_dtype, overlays
        self.run_info = run_info or {}
        if (self.out / "masks").is_dir() and any((self.out / "masks").iterdir()) and not overwrite:
            raise DataError(
                f"{self.out}: already holds predictions; choose another --out or pass --overwrite"
            )

    def __enter__(self) -> _StandInWriter:
        self.out.mkdir(parents=True, exist_ok=True)
        self.class_map.save(self.out / "classes.yaml")
        return self

    def __exit__(self, *exc: object) -> None:
        from segscope.utils.files import write_json

        write_json(self.out / "run.json", self.run_info)

    def write(self, sample_id: str, prediction: Prediction, image: np.ndarray | None = None) -> None:
        from segscope.core.image import overlay
        from segscope.formats.files import write_image, write_mask
        from segscope.utils.files import atomic_path

        write_mask(self.out / "masks" / f"{sample_id}.png", prediction.mask)
        if self.save_probs and prediction.probs is not None:
            with atomic_path(self.out / "probs" / f"{sample_id}.npy") as tmp:
                np.save(tmp, np.asarray(prediction.probs, dtype=self.probs_dtype))
        if self.overlays and image is not None:
            layer = self.class_map.colorize(prediction.mask)
            write_image(self.out / "overlays" / f"{sample_id}.png", overlay(image, layer, alpha=0.45))


def _writer(out: Path, class_map: ClassMap, run_info: dict[str, Any], **kwargs: Any) -> Any:
    try:
        from segscope.formats.predictions import PredictionWriter  # type: ignore[import-not-found]
    except ImportError:
        return _StandInWriter(out, class_map, run_info=run_info, **kwargs)
    writer = PredictionWriter(out, class_map, **kwargs)
    if hasattr(writer, "run_info"):
        writer.run_info = run_info
    return writer


def predict_dataset(
    predictor: Predictor,
    dataset: Dataset,
    out: str | os.PathLike[str],
    *,
    tile: int | None = None,
    overlap: int = 64,
    batch_size: int = 4,
    tta: bool = False,
    save_probs: bool = True,
    probs_dtype: str = "float32",
    overlays: bool = True,
    overwrite: bool = False,
    model_path: str | None = None,
) -> int:
    """Predict every sample of ``dataset`` and write ``out`` in the prediction-folder layout.

    Returns the number of images written.
    """
    if probs_dtype not in ("float32", "float16"):
        raise ParameterError(f"probs dtype '{probs_dtype}' must be float32 or float16")
    import segscope

    run_info = {
        "method": "model",
        "model": model_path,
        "backend": predictor.backend,
        "model_config": predictor.info.get("model_config"),
        "params": {"tile": tile, "overlap": overlap, "batch_size": batch_size, "tta": tta},
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "segscope_version": segscope.__version__,
    }
    count = 0
    with _writer(
        Path(out),
        predictor.class_map,
        run_info,
        overwrite=overwrite,
        save_probs=save_probs,
        probs_dtype=probs_dtype,
        overlays=overlays,
    ) as writer:
        for sample in progress(dataset, total=len(dataset), desc="predict"):
            image = sample.image
            pred = predictor.predict(image, tile=tile, overlap=overlap, batch_size=batch_size, tta=tta)
            writer.write(sample.id, pred, image=image)
            count += 1
    return count
