"""Saving and loading a model with its preprocessing: segscope bundles, Lightning checkpoints, run dirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segscope.errors import FormatError
from segscope.models.preprocessing import Preprocessing

__all__ = ["create_model", "save_model", "load_model", "resolve_checkpoint"]

BUNDLE_FORMAT = "segscope-model-1"


def create_model(
    arch: str,
    *,
    encoder: str | None = None,
    in_channels: int = 3,
    num_classes: int = 2,
    weights: str | Path | None = None,
    **kwargs: Any,
) -> Any:
    """Build a :class:`~segscope.models.network.SegmentationNet`.

    Parameters
    ----------
    arch : str
        Registered architecture (case-insensitive): ``unet``, ``fpn``, ``deeplabv3_resnet50``...
        See ``segscope models list``.
    encoder : str, optional
        smp encoder name (``resnet18``, ``efficientnet-b0``, ``tu-...``); smp architectures only.
    in_channels, num_classes : int
        Input channels (1, 3 or any N) and output classes.
    weights : None, "imagenet" or path
        Random init, the library's pretrained download, or a local state dict.
    **kwargs
        Passed to the architecture (e.g. ``encoder_depth=3, decoder_channels=(16, 8, 4)``).

    Raises
    ------
    ParameterError
        On an unknown architecture or encoder (listing the valid ones), or when pretrained
        weights cannot be downloaded (naming ``--weights PATH`` and ``--weights none``).

    Examples
    --------
    >>> net = create_model("unet", encoder="resnet18", in_channels=5, num_classes=3,
    ...                    encoder_depth=3, decoder_channels=(16, 8, 4))  # doctest: +SKIP
    >>> net.divisor  # doctest: +SKIP
    8
    """
    from segscope.models.network import SegmentationNet
    from segscope.models.registry import model_config

    config = model_config(arch, encoder=encoder, in_channels=in_channels, num_classes=num_classes, **kwargs)
    return SegmentationNet(config, weights=weights)


def save_model(path: str | Path, net: Any, preprocessing: Preprocessing) -> None:
    """Write a self-contained model file: config, preprocessing and weights (atomic)."""
    import torch

    from segscope.utils.files import atomic_path

    payload = {
        "format": BUNDLE_FORMAT,
        "model_config": net.config,
        "preprocessing": preprocessing.to_dict(),
        "state_dict": net.state_dict(),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def resolve_checkpoint(path: str | Path) -> Path:
    """A run dir -> its ``best.ckpt`` (else ``last.ckpt``); a file -> itself."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.ckpt", "last.ckpt", "model.pt"):
            if (path / "checkpoints" / name).is_file():
                return path / "checkpoints" / name
            if (path / name).is_file():
                return path / name
        raise FormatError(
            f"{path}: no checkpoints/best.ckpt, last.ckpt or model.pt; is it a 'segscope train' run dir?"
        )
    if not path.is_file():
        raise FormatError(f"{path}: no such model file or run dir; check the path")
    return path


def load_model(path: str | Path, *, map_location: str = "cpu") -> tuple[Any, Preprocessing]:
    """Load ``(net, preprocessing)`` from a run dir, a Lightning ``.ckpt`` or a ``save_model`` file.

    The network is returned in eval mode.
    """
    import torch

    from segscope.models.network import SegmentationNet

    file = resolve_checkpoint(path)
    try:
        payload = torch.load(file, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem becomes one line
        raise FormatError(f"{file}: not a readable torch checkpoint ({exc}); re-save or re-train") from exc
    if not isinstance(payload, dict):
        raise FormatError(f"{file}: not a segscope checkpoint; expected a dict payload")
    if payload.get("format") == BUNDLE_FORMAT:
        config, pre, state = payload["model_config"], payload["preprocessing"], payload["state_dict"]
    elif "hyper_parameters" in payload and "model_config" in payload["hyper_parameters"]:
        hp = payload["hyper_parameters"]
        config, pre = hp["model_config"], hp["preprocessing"]
        state = {k[4:]: v for k, v in payload["state_dict"].items() if k.startswith("net.")}
    else:
        raise FormatError(
            f"{file}: has no segscope model config; use a checkpoint written by 'segscope train'"
        )
    net = SegmentationNet(config, weights=None)
    net.load_state_dict(state)
    net.eval()
    return net, Preprocessing.from_dict(pre)
