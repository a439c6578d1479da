"""``predict_dataset``: run a predictor over a dataset and write the prediction-folder layout."""

from __future__ import annotations

import os

from segscope.core.dataset import Dataset
from segscope.errors import ParameterError
from segscope.formats.predictions import PredictionWriter
from segscope.inference.predictor import Predictor, check_vflip_shift, resolve_tta
from segscope.utils.progress import progress

__all__ = ["predict_dataset"]


def predict_dataset(
    predictor: Predictor,
    dataset: Dataset,
    out: str | os.PathLike[str],
    *,
    tile: int | None = None,
    overlap: int = 64,
    batch_size: int = 4,
    tta: bool | str = False,
    vflip_shift: int = 0,
    save_probs: bool = True,
    probs_dtype: str = "float32",
    overlays: bool = True,
    overwrite: bool = False,
    model_path: str | None = None,
) -> int:
    """Predict every sample of ``dataset`` and write ``out`` in the prediction-folder layout.

    Files are written by :class:`segscope.formats.predictions.PredictionWriter`, so
    ``segscope evaluate GT OUT`` reads them like any other prediction folder.

    ``tta`` and ``vflip_shift`` are as in :meth:`Predictor.predict_probs`.

    Returns the number of images written.
    """
    if probs_dtype not in ("float32", "float16"):
        raise ParameterError(f"probs dtype '{probs_dtype}' must be float32 or float16")
    tta = resolve_tta(tta) or False
    check_vflip_shift(tta or None, vflip_shift)
    # Only a semantic predictor takes the shift; instance predictors keep their own options.
    shift = {"vflip_shift": vflip_shift} if vflip_shift else {}
    run_info = {
        "method": "model",
        "model": model_path,
        "backend": predictor.backend,
        "model_config": predictor.info.get("model_config"),
        "params": {"tile": tile, "overlap": overlap, "batch_size": batch_size, "tta": tta, **shift},
    }
    count = 0
    with PredictionWriter(
        out,
        predictor.class_map,
        run_info=run_info,
        overwrite=overwrite,
        save_probs=save_probs,
        probs_dtype=probs_dtype,
        overlays=overlays,
    ) as writer:
        for sample in progress(dataset, total=len(dataset), desc="predict"):
            image = sample.image
            pred = predictor.predict(
                image, tile=tile, overlap=overlap, batch_size=batch_size, tta=tta, **shift
            )
            writer.write(sample.id, pred, image=image)
            count += 1
    return count
