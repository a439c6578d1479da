"""Predictors: a trained model (torch or ONNX Runtime) + its preprocessing -> :class:`Prediction`.

Both backends share the same NumPy path: preprocessing per tile, padding to the encoder's
stride, optional flip/turn TTA and sliding-window blending; only the batch call differs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from segscope.core.classes import ClassMap
from segscope.core.prediction import Prediction
from segscope.core.probs import probs_to_mask
from segscope.errors import FormatError, ParameterError
from segscope.inference.tiling import sliding_window
from segscope.models.preprocessing import Preprocessing

__all__ = ["Predictor", "BACKENDS", "ONNX_METADATA_KEY", "TTA_MODES", "check_vflip_shift", "resolve_tta"]

BACKENDS = ("torch", "onnx")
ONNX_METADATA_KEY = "segscope"

BatchFn = Callable[[np.ndarray], np.ndarray]


def _pad_to(fn: BatchFn, divisor: int) -> BatchFn:
    """Wrap ``fn`` so it accepts any tile size: reflect-pad to ``divisor``, crop the output."""
    if divisor <= 1:
        return fn

    def run(x: np.ndarray) -> np.ndarray:
        h, w = x.shape[-2:]
        ph, pw = -(-h // divisor) * divisor, -(-w // divisor) * divisor
        if (ph, pw) == (h, w):
            return fn(x)
        mode = "reflect" if ph - h < h and pw - w < w else "edge"
        padded = np.pad(x, ((0, 0), (0, 0), (0, ph - h), (0, pw - w)), mode=mode)
        return fn(padded)[:, :, :h, :w]

    return run


def resolve_tta(tta: bool | str | None) -> str | None:
    """The TTA mode of ``tta``: ``None`` for no TTA, else one of :data:`TTA_MODES` (``True`` is ``flip``).

    Raises
    ------
    ParameterError
        If ``tta`` is a string that names no mode.
    """
    if tta is None or tta is False or (isinstance(tta, str) and tta.lower() == "none"):
        return None
    if tta is True:
        return "flip"
    mode = str(tta).lower()
    if mode not in TTA_MODES:
        raise ParameterError(f"unknown TTA mode '{tta}'; use one of {', '.join(TTA_MODES)} (or none)")
    return mode


def _dihedral(turns: int, flip: bool) -> tuple[Callable[[np.ndarray], np.ndarray], ...]:
    """(forward, inverse) of ``turns`` quarter turns then an optional left-right flip, on (N, C, H, W)."""

    def forward(a: np.ndarray) -> np.ndarray:
        a = np.rot90(a, turns, axes=(2, 3))
        return a[..., ::-1] if flip else a

    def inverse(a: np.ndarray) -> np.ndarray:
        return np.rot90(a[..., ::-1] if flip else a, -turns, axes=(2, 3))

    return forward, inverse


# The transforms each TTA mode adds to the input itself; a half turn then a left-right flip is
# the up-down flip.
_TTA_TRANSFORMS = {
    "flip": [(0, True), (2, True)],
    "hflip": [(0, True)],
    "d4": [(k, f) for k in range(4) for f in (False, True) if (k, f) != (0, False)],
}
TTA_MODES = tuple(_TTA_TRANSFORMS)


def _shift_rows(a: np.ndarray, rows: int) -> np.ndarray:
    """``a`` (N, C, H, W) moved ``rows`` rows down (negative: up), the uncovered rows copied from the edge."""
    if rows == 0:
        return a
    k = min(abs(rows), a.shape[2])
    if rows < 0:
        return np.concatenate([a[:, :, k:], np.repeat(a[:, :, -1:], k, axis=2)], axis=2)
    return np.concatenate([np.repeat(a[:, :, :1], k, axis=2), a[:, :, : a.shape[2] - k]], axis=2)


def check_vflip_shift(mode: str | None, vflip_shift: int) -> None:
    """Raise :class:`ParameterError` unless ``vflip_shift`` fits TTA ``mode`` (only ``flip`` flips up-down alone)."""
    if vflip_shift and mode != "flip":
        raise ParameterError(
            f"vflip_shift={vflip_shift} needs TTA mode 'flip' (up-down flips), not {mode or 'none'}: "
            "only it has an up-down flip alone (d4's quarter turns would turn the offset sideways); "
            "use --tta-mode flip or drop the shift"
        )


def _tta(fn: BatchFn, mode: str, vflip_shift: int = 0) -> BatchFn:
    """Average the probabilities over the transforms of ``mode`` (see :data:`TTA_MODES`).

    ``flip``: the input, its horizontal and its vertical flip. ``hflip``: the input and its
    horizontal flip, for labels that know up from down (driving scenes; masks drawn a fraction
    of a pixel off their images, as ISBI 2012's are). ``d4``: the 8 flips and quarter turns.
    Each output is mapped back by the inverse transform before averaging; with ``vflip_shift``
    (``flip`` only) the up-down flipped view then moves that many rows (negative: up), to
    match a model trained with ``VerticalFlipKeepOffset(mask_shift=vflip_shift)``: its up-down
    flipped output, mapped back, sits on the other side of the membranes from its labels.
    """
    # A half turn (with or without a left-right flip) reverses the rows.
    pairs = [
        (*_dihedral(turns, flip), vflip_shift if turns == 2 else 0) for turns, flip in _TTA_TRANSFORMS[mode]
    ]

    def run(x: np.ndarray) -> np.ndarray:
        out = fn(x).astype(np.float32)
        for forward, inverse, rows in pairs:
            out += _shift_rows(inverse(fn(np.ascontiguousarray(forward(x)))), rows)
        return out / (len(pairs) + 1)

    return run


class Predictor:
    """Predict label maps and probabilities for images of any size.

    Build one with :meth:`load` (run dir, checkpoint or ``.onnx``) or :meth:`from_net`.

    Examples
    --------
    >>> predictor = Predictor.load("runs/unet", backend="onnx")  # doctest: +SKIP
    >>> pred = predictor.predict(image, tile=512, overlap=64, tta=True)  # doctest: +SKIP
    >>> pred.mask.shape == image.shape[:2]  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        batch_fn: BatchFn,
        preprocessing: Preprocessing,
        *,
        num_classes: int,
        divisor: int = 1,
        backend: str = "torch",
        info: dict[str, Any] | None = None,
    ) -> None:
        self._raw_fn = batch_fn
        self.preprocessing = preprocessing
        self.num_classes = int(num_classes)
        self.divisor = int(divisor)
        self.backend = backend
        self.info = dict(info or {})

    @property
    def class_map(self) -> ClassMap:
        cm = self.preprocessing.class_map
        return ClassMap.from_dict(cm) if cm else ClassMap.default(self.num_classes)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_net(cls, net: Any, preprocessing: Preprocessing, *, device: str = "auto") -> Predictor:
        """Wrap a :class:`~segscope.models.network.SegmentationNet` (torch backend) on ``device``
        (``auto``: a CUDA GPU when torch sees one, else the CPU; or ``cpu``, ``cuda``, ``cuda:N``)."""
        import torch

        from segscope.utils.device import resolve_device

        device = resolve_device(device)
        net = net.to(device).eval()

        def run(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                logits = net.logits(torch.from_numpy(x).to(device))
                return torch.softmax(logits, dim=1).float().cpu().numpy()

        return cls(
            run,
            preprocessing,
            num_classes=net.num_classes,
            divisor=net.divisor,
            backend="torch",
            info={"model_config": net.config, "device": device},
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        backend: str | None = None,
        device: str = "auto",
        threads: int | None = None,
    ) -> Predictor:
        """Load a run dir, a checkpoint (``.ckpt``/``.pt``) or an exported ``.onnx`` model.

        ``backend`` defaults to ``onnx`` for ``.onnx`` files and ``torch`` otherwise; a run dir
        with ``backend="onnx"`` uses its ``model.onnx`` (from ``segscope export``). ``device``
        (torch backend): ``auto`` (a CUDA GPU when torch sees one), ``cpu``, ``cuda`` or ``cuda:N``;
        the onnx backend runs on the CPU.
        """
        path = Path(path)
        if backend is None:
            backend = "onnx" if path.suffix.lower() == ".onnx" else "torch"
        if backend not in BACKENDS:
            raise ParameterError(f"unknown backend '{backend}'; use one of {', '.join(BACKENDS)}")
        if backend == "onnx":
            if str(device).strip().lower() not in ("auto", "cpu"):
                raise ParameterError(
                    f"--device {device}: the onnx backend runs on the CPU; use --backend torch on a GPU"
                )
            if path.is_dir():
                path = path / "model.onnx"
                if not path.is_file():
                    raise FormatError(
                        f"{path}: not found; run 'segscope export {path.parent} --format onnx' first"
                    )
            if path.suffix.lower() != ".onnx":
                raise ParameterError(
                    f"{path}: backend 'onnx' needs an .onnx file; run 'segscope export' first"
                )
            return cls._load_onnx(path, threads=threads)
        if path.suffix.lower() == ".onnx":
            raise ParameterError(f"{path}: an .onnx file runs with backend 'onnx', not '{backend}'")
        from segscope.models.checkpoint import load_model

        if threads:
            import torch

            torch.set_num_threads(threads)
        net, pre = load_model(path)
        return cls.from_net(net, pre, device=device)

    @classmethod
    def _load_onnx(cls, path: Path, *, threads: int | None = None) -> Predictor:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        try:
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
            raise FormatError(f"{path}: ONNX Runtime cannot load it ({exc}); re-export the model") from exc
        meta = session.get_modelmeta().custom_metadata_map
        if ONNX_METADATA_KEY not in meta:
            raise FormatError(f"{path}: has no segscope metadata; export it with 'segscope export'")
        record = json.loads(meta[ONNX_METADATA_KEY])
        name = session.get_inputs()[0].name

        def run(x: np.ndarray) -> np.ndarray:
            return session.run(None, {name: x})[0]

        return cls(
            run,
            Preprocessing.from_dict(record["preprocessing"]),
            num_classes=record["model_config"]["num_classes"],
            divisor=record["divisor"],
            backend="onnx",
            info={"model_config": record["model_config"]},
        )

    # ------------------------------------------------------------------ prediction
    def predict_probs(
        self,
        image: np.ndarray,
        *,
        tile: int | None = None,
        overlap: int = 64,
        batch_size: int = 4,
        tta: bool | str = False,
        vflip_shift: int = 0,
        memmap_dir: str | Path | None = None,
    ) -> np.ndarray:
        """``(H, W, K) float32`` probabilities of a raw ``(H, W[, C])`` image.

        ``tile=None`` runs the whole image at once; ``tile=512`` slides 512x512 windows with
        ``overlap`` pixels of Gaussian-blended overlap, ``batch_size`` tiles per call.
        ``tta`` averages over flipped (and turned) copies of each tile: ``True`` or ``"flip"``
        (horizontal and vertical flips), ``"hflip"`` (left-right only) or ``"d4"`` (8 flips
        and quarter turns); use only transforms the model was trained to be invariant to.
        ``vflip_shift`` (with ``"flip"``) moves the up-down flipped view that many rows once
        mapped back (negative: up), for a model trained with ``VerticalFlipKeepOffset``.
        A model with per-image normalisation or an image shift (``Preprocessing.per_image``,
        ``image_shift``) has the whole image prepared first, into one float32 copy, so every
        tile sees the statistics of the whole image, as in training.
        """
        image = np.asarray(image)
        fn = _pad_to(self._raw_fn, self.divisor)
        mode = resolve_tta(tta)
        check_vflip_shift(mode, vflip_shift)
        if mode:
            fn = _tta(fn, mode, vflip_shift)
        size = tile or max(image.shape[:2])
        prepare = self.preprocessing.apply
        if self.preprocessing.needs_whole_image:
            # Per-image statistics (percentiles) come from the whole image, as in training; taken
            # tile by tile they would differ from tile to tile and show the tile edges. A shifted
            # tile would also repeat its own edge where the image goes on.
            image = self.preprocessing.channels_last(image)
            prepare = self.preprocessing.normalize
        return sliding_window(
            image,
            fn,
            num_classes=self.num_classes,
            tile=size,
            overlap=overlap if tile else 0,
            batch_size=batch_size,
            prepare=prepare,
            memmap_dir=memmap_dir,
        )

    def predict(self, image: np.ndarray, **kwargs: Any) -> Prediction:
        """A :class:`Prediction` (mask and probs) for ``image``; options as :meth:`predict_probs`."""
        probs = self.predict_probs(image, **kwargs)
        # Arg-max in row blocks: np.argmax makes an int64 (H, W) temporary, 0.5 GB at 8192x8192.
        mask = np.empty(probs.shape[:2], np.uint8 if probs.shape[2] <= 255 else np.uint16)
        for y in range(0, probs.shape[0], 1024):
            mask[y : y + 1024] = probs_to_mask(probs[y : y + 1024])
        return Prediction(mask, probs=probs, info={"backend": self.backend})
