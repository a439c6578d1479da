"""The architecture registry: segmentation_models_pytorch and torchvision models by name.

Nothing here imports torch at module level; the builders import smp or torchvision when
they are called, so listing names and parsing CLI options stays fast.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segscope.errors import ParameterError
from segscope.registry import Registry

__all__ = [
    "ARCHITECTURES",
    "ArchSpec",
    "list_models",
    "list_encoders",
    "model_config",
    "parse_model_args",
    "build_network",
    "OfflineWeightsError",
]


class OfflineWeightsError(ParameterError):
    """Pretrained weights were asked for but could not be downloaded."""


@dataclass(frozen=True)
class ArchSpec:
    """How to build one architecture.

    ``library`` is ``"smp"`` (any smp encoder) or ``"torchvision"`` (fixed backbone).
    ``build(encoder, in_channels, num_classes, weights, **kwargs)`` returns a torch module whose
    forward maps ``(N, C, H, W)`` to logits ``(N, K, H, W)``.
    """

    name: str
    library: str
    description: str
    build: Callable[..., Any]
    default_encoder: str | None = None
    task: str = "semantic"


ARCHITECTURES: Registry[ArchSpec] = Registry("architecture")

_SMP_ARCHS = {
    "unet": "U-Net (Ronneberger et al. 2015)",
    "unetplusplus": "U-Net++ (nested skip connections)",
    "fpn": "Feature Pyramid Network",
    "deeplabv3": "DeepLabV3 (atrous spatial pyramid pooling)",
    "deeplabv3plus": "DeepLabV3+ (ASPP + decoder)",
    "pspnet": "Pyramid Scene Parsing Network",
    "linknet": "LinkNet",
    "manet": "Multi-scale Attention Net",
    "pan": "Pyramid Attention Network",
    "upernet": "UPerNet",
}

_TV_ARCHS = {
    "deeplabv3_resnet50": "torchvision DeepLabV3, ResNet-50 backbone",
    "deeplabv3_resnet101": "torchvision DeepLabV3, ResNet-101 backbone",
    "deeplabv3_mobilenet_v3_large": "torchvision DeepLabV3, MobileNetV3-Large backbone",
    "fcn_resnet50": "torchvision FCN, ResNet-50 backbone",
    "fcn_resnet101": "torchvision FCN, ResNet-101 backbone",
    "lraspp_mobilenet_v3_large": "torchvision LR-ASPP, MobileNetV3-Large backbone",
}


def _offline_error(what: str, exc: BaseException) -> OfflineWeightsError:
    return OfflineWeightsError(
        f"cannot download pretrained weights for {what} ({type(exc).__name__}: {exc}); "
        "no network? pass a local file with --weights PATH (Python: weights=PATH), "
        "or train from scratch with --weights none (weights=None)"
    )


def _smp_builder(arch: str) -> Callable[..., Any]:
    def build(encoder: str, in_channels: int, num_classes: int, weights: str | None, **kwargs: Any) -> Any:
        import segmentation_models_pytorch as smp

        from segscope.models.full_resolution import FULL_RESOLUTION_ARCHS, FullResolutionSkip

        full_res = int(kwargs.pop("full_res_skip", 0) or 0)
        if full_res < 0 or (full_res and arch not in FULL_RESOLUTION_ARCHS):
            raise ParameterError(
                f"full_res_skip={full_res}: a positive channel count, for unet and unetplusplus only "
                f"(the decoder output of '{arch}' is not at full resolution)"
            )
        names = smp.encoders.get_encoder_names()
        if encoder not in names and not encoder.startswith("tu-"):
            from segscope.registry import suggest

            raise ParameterError(
                f"unknown encoder '{encoder}'{suggest(encoder, names)}; list them with "
                "'segscope models list --encoders'"
            )
        try:
            net = smp.create_model(
                arch,
                encoder_name=encoder,
                encoder_weights=weights,
                in_channels=in_channels,
                classes=num_classes,
                **kwargs,
            )
        except OSError as exc:  # URLError, requests/huggingface_hub connection errors
            raise _offline_error(f"encoder '{encoder}'", exc) from exc
        except KeyError as exc:
            raise ParameterError(f"{arch} with encoder '{encoder}': {exc.args[0]}") from exc
        except TypeError as exc:
            raise ParameterError(f"{arch}: bad model option ({exc}); check --model-arg names") from exc
        _drop_unused_resnet_stages(net.encoder, int(kwargs.get("encoder_depth", 5)))
        if full_res:
            net = FullResolutionSkip(net, in_channels, full_res)
        return net

    return build


def _drop_unused_resnet_stages(encoder: Any, depth: int) -> None:
    # smp's ResNet encoders keep layer3/layer4 even when encoder_depth stops before them; they
    # are never run but hold most of the weights (10.5 of 11.2 M for resnet18 at depth 3).
    if not all(hasattr(encoder, f"layer{j}") for j in range(1, 5)):
        return
    for k in range(max(depth, 1), 5):
        delattr(encoder, f"layer{k}")


def _tv_builder(arch: str) -> Callable[..., Any]:
    def build(encoder: str, in_channels: int, num_classes: int, weights: str | None, **kwargs: Any) -> Any:
        from segmentation_models_pytorch.encoders._utils import patch_first_conv
        from torchvision.models import segmentation as tvseg

        fn = getattr(tvseg, arch)
        try:
            # "imagenet" means an ImageNet-pretrained backbone through torchvision's weights API.
            net = fn(
                weights=None,
                weights_backbone="DEFAULT" if weights else None,
                num_classes=num_classes,
                aux_loss=None if arch.startswith("lraspp") else False,
                **kwargs,
            )
        except OSError as exc:
            raise _offline_error(f"torchvision '{arch}' backbone", exc) from exc
        except TypeError as exc:
            raise ParameterError(f"{arch}: bad model option ({exc}); check --model-arg names") from exc
        if in_channels != 3:
            patch_first_conv(net, in_channels, pretrained=bool(weights))
        return net

    return build


for _name, _desc in _SMP_ARCHS.items():
    ARCHITECTURES.add(
        _name,
        ArchSpec(_name, "smp", _desc, _smp_builder(_name), default_encoder="resnet34"),
        aliases=("unet++",) if _name == "unetplusplus" else (),
    )
for _name, _desc in _TV_ARCHS.items():
    ARCHITECTURES.add(_name, ArchSpec(_name, "torchvision", _desc, _tv_builder(_name)))


def _maskrcnn_builder(arch: str) -> Callable[..., Any]:
    def build(encoder: str, in_channels: int, num_classes: int, weights: str | None, **kwargs: Any) -> Any:
        from segscope.instance.maskrcnn import build_maskrcnn, maskrcnn_config

        config = maskrcnn_config(arch, num_classes=num_classes, in_channels=in_channels, **kwargs)
        return build_maskrcnn(config, weights=weights)

    return build


# Instance architectures (built in segscope.instance.maskrcnn): `segscope train --task instance`.
MASKRCNN_ARCHS = {
    "maskrcnn_resnet50_fpn": "torchvision Mask R-CNN, ResNet-50-FPN (v1); COCO weights (instance)",
    "maskrcnn_resnet50_fpn_v2": "torchvision Mask R-CNN v2 recipe, ResNet-50-FPN; COCO weights (instance)",
    "maskrcnn_resnet18_fpn": "Mask R-CNN on a ResNet-18 FPN (torchvision parts), light for CPU (instance)",
}
for _name, _desc in MASKRCNN_ARCHS.items():
    ARCHITECTURES.add(
        _name,
        ArchSpec(_name, "torchvision", _desc, _maskrcnn_builder(_name), task="instance"),
        aliases=("maskrcnn",) if _name == "maskrcnn_resnet50_fpn" else (),
    )


def list_models(pattern: str | None = None) -> list[str]:
    """Registered architecture names matching a shell wildcard.

    Examples
    --------
    >>> list_models("deeplab*")[:2]
    ['deeplabv3', 'deeplabv3plus']
    """
    return ARCHITECTURES.list(pattern)


def list_encoders(pattern: str | None = None) -> list[str]:
    """smp encoder names matching a shell wildcard (imports smp)."""
    import segmentation_models_pytorch as smp

    names = list(smp.encoders.get_encoder_names())
    return [n for n in names if not pattern or fnmatch.fnmatch(n, pattern.lower())]


def parse_model_args(
    items: Sequence[str], *, option: str = "--model-arg", example: str = "encoder_depth=3"
) -> dict[str, Any]:
    """``KEY=VALUE`` options (``--model-arg``, or the flag named by ``option``) as keyword arguments, values read as YAML.

    Examples
    --------
    >>> parse_model_args(["encoder_depth=3", "decoder_channels=[16, 8, 4]"])
    {'encoder_depth': 3, 'decoder_channels': [16, 8, 4]}
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ParameterError(f"{option} '{item}' is not KEY=VALUE; e.g. {option} {example}")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def model_config(
    arch: str,
    *,
    encoder: str | None = None,
    in_channels: int = 3,
    num_classes: int = 2,
    **kwargs: Any,
) -> dict[str, Any]:
    """Validated, JSON-serialisable description of a network (no weights): what checkpoints store."""
    spec = ARCHITECTURES.get(arch)
    if in_channels < 1 or num_classes < 1:
        raise ParameterError(f"in_channels={in_channels}, num_classes={num_classes}: both must be >= 1")
    if spec.library == "torchvision" and encoder not in (None, "", "default"):
        raise ParameterError(
            f"architecture '{spec.name}' has a fixed backbone; drop --encoder '{encoder}' "
            "or use an smp architecture (e.g. deeplabv3 --encoder resnet50)"
        )
    if spec.library == "smp":
        encoder = encoder or spec.default_encoder
    else:
        encoder = None
    for key, value in kwargs.items():
        if isinstance(value, tuple):
            kwargs[key] = list(value)
    return {
        "arch": spec.name,
        "library": spec.library,
        "encoder": encoder,
        "in_channels": int(in_channels),
        "num_classes": int(num_classes),
        "kwargs": dict(kwargs),
    }


def build_network(config: dict[str, Any], *, weights: str | Path | None = None) -> Any:
    """Build the raw torch module of ``config`` (see :func:`model_config`).

    ``weights`` is ``None``, ``"imagenet"`` (library download) or a local file holding a state
    dict for the whole network or its encoder.
    """
    spec = ARCHITECTURES.get(config["arch"])
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in config.get("kwargs", {}).items()}
    download: str | None = None
    local: Path | None = None
    if weights is not None and str(weights).lower() not in ("none", ""):
        if str(weights).lower() == "imagenet":
            download = "imagenet"
        else:
            local = Path(weights)
            if not local.is_file():
                raise ParameterError(
                    f"weights '{weights}' is neither 'imagenet', 'none' nor an existing file; "
                    "give the path of a .pt/.pth state dict"
                )
    net = spec.build(config["encoder"], config["in_channels"], config["num_classes"], download, **kwargs)
    if local is not None:
        _load_local_weights(net, local)
    return net


def _load_local_weights(net: Any, path: Path) -> None:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem becomes one line
        raise ParameterError(
            f"{path}: cannot read weights ({exc}); save a state dict with torch.save"
        ) from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    target = net
    own = net.state_dict()
    if not set(state) & set(own) and hasattr(net, "encoder"):
        target = net.encoder  # an encoder-only state dict (e.g. a timm/smp download saved to disk)
        own = target.state_dict()
    shared = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not shared:
        raise ParameterError(
            f"{path}: no tensor matches the network's parameters by name and shape; "
            "is it for another architecture or encoder?"
        )
    target.load_state_dict(shared, strict=False)
