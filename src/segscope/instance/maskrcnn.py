"""Mask R-CNN from torchvision: building, COCO/ImageNet weights, prediction to :class:`Instances`.

Imports torch at module level: import this module only from the deep layers, inside functions.
Architectures (registered in :data:`segscope.models.ARCHITECTURES` with ``task="instance"``):

* ``maskrcnn_resnet50_fpn`` (alias ``maskrcnn``): torchvision's v1, COCO weights available.
* ``maskrcnn_resnet50_fpn_v2``: torchvision's improved v2 recipe, COCO weights available.
* ``maskrcnn_resnet18_fpn``: ``torchvision.models.detection.MaskRCNN`` on a ResNet-18 FPN
  (``resnet_fpn_backbone``) for CPU users; ImageNet backbone weights only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from segscope.core.classes import ClassMap
from segscope.core.instances import Instances
from segscope.core.prediction import Prediction
from segscope.errors import DataError, FormatError, ParameterError
from segscope.models.preprocessing import Preprocessing
from segscope.models.registry import MASKRCNN_ARCHS

__all__ = [
    "MASKRCNN_ARCHS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "build_maskrcnn",
    "maskrcnn_config",
    "InstancePredictor",
    "load_instance_model",
    "outputs_to_instances",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHT_CHOICES = ("none", "coco", "imagenet")
# Options passed straight to torchvision's MaskRCNN constructor.
_TV_OPTIONS = {
    "min_size",
    "max_size",
    "box_detections_per_img",
    "box_score_thresh",
    "box_nms_thresh",
    "rpn_pre_nms_top_n_test",
    "rpn_post_nms_top_n_test",
    "rpn_pre_nms_top_n_train",
    "rpn_post_nms_top_n_train",
    "box_batch_size_per_image",
    "rpn_batch_size_per_image",
}


def maskrcnn_config(arch: str, *, num_classes: int, in_channels: int = 3, **kwargs: Any) -> dict[str, Any]:
    """JSON-serialisable description of a Mask R-CNN (what checkpoints store).

    ``num_classes`` counts the background (class 0), as torchvision does. ``kwargs``:
    torchvision MaskRCNN options (``min_size``, ``max_size``, ``box_detections_per_img`` ...)
    and ``anchor_sizes`` (five ints, one per FPN level; resnet18 default 16..256);
    for ``maskrcnn_resnet18_fpn`` also ``fpn_channels`` (width of the FPN and of the heads
    that read it; default 256; 128 took a 4 x 256² CPU training step from 7.5 s to 4.5 s).

    Examples
    --------
    >>> maskrcnn_config("maskrcnn_resnet18_fpn", num_classes=2, min_size=128)["kwargs"]
    {'min_size': 128}
    """
    from segscope.models.registry import ARCHITECTURES

    spec = ARCHITECTURES.get(arch)
    if spec.name not in MASKRCNN_ARCHS:
        raise ParameterError(
            f"'{spec.name}' is not an instance architecture; use one of {', '.join(MASKRCNN_ARCHS)}"
        )
    if in_channels != 3:
        raise ParameterError(
            f"Mask R-CNN takes 3-channel images, got in_channels={in_channels}; grey images are repeated "
            "and RGBA images lose their alpha automatically, other channel counts must be converted"
        )
    if num_classes < 2:
        raise ParameterError(f"num_classes={num_classes} must count the background and >= 1 object class")
    bad = sorted(set(kwargs) - _TV_OPTIONS - {"anchor_sizes", "trainable_layers", "fpn_channels"})
    if bad:
        raise ParameterError(
            f"unknown Mask R-CNN option(s) {bad}; valid: "
            f"{', '.join(sorted(_TV_OPTIONS | {'anchor_sizes', 'fpn_channels'}))}"
        )
    if "fpn_channels" in kwargs:
        if spec.name != "maskrcnn_resnet18_fpn":
            raise ParameterError(
                f"fpn_channels is an option of maskrcnn_resnet18_fpn, not of '{spec.name}' "
                "(whose pretrained weights fix 256 channels); drop it"
            )
        if int(kwargs["fpn_channels"]) < 8:
            raise ParameterError(f"fpn_channels={kwargs['fpn_channels']} must be >= 8 (default 256)")
    return {
        "arch": spec.name,
        "library": "torchvision",
        "task": "instance",
        "encoder": None,
        "in_channels": 3,
        "num_classes": int(num_classes),
        "kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()},
    }


def _offline(what: str, exc: BaseException) -> ParameterError:
    from segscope.models.registry import _offline_error

    return _offline_error(what, exc)


def _replace_heads(net: Any, num_classes: int) -> None:
    """New box and mask predictors for ``num_classes`` (the standard fine-tuning recipe)."""
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
    from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor

    box_in = net.roi_heads.box_predictor.cls_score.in_features
    net.roi_heads.box_predictor = FastRCNNPredictor(box_in, num_classes)
    mask_in = net.roi_heads.mask_predictor.conv5_mask.in_channels
    net.roi_heads.mask_predictor = MaskRCNNPredictor(mask_in, 256, num_classes)


def build_maskrcnn(
    config: dict[str, Any],
    *,
    weights: str | os.PathLike[str] | None = None,
    image_mean: tuple[float, ...] = IMAGENET_MEAN,
    image_std: tuple[float, ...] = IMAGENET_STD,
) -> nn.Module:
    """The torchvision ``MaskRCNN`` module of ``config`` (see :func:`maskrcnn_config`).

    Parameters
    ----------
    weights : {None, 'none', 'coco', 'imagenet'} or path
        Random init; COCO-pretrained detector (ResNet-50 variants; heads re-initialised for
        ``num_classes``) or ImageNet backbone, both through torchvision's weights API
        (downloaded once into the torch hub cache); or a local file holding a state dict of
        the whole detector (e.g. a torchvision ``.pth`` saved on a machine with network).
    image_mean, image_std : tuple of float
        Normalisation done inside the model on ``[0, 1]`` images.

    Raises
    ------
    OfflineWeightsError
        When a download fails; the message names ``--weights PATH`` and ``--weights none``.
    """
    from torchvision.models import ResNet18_Weights, ResNet50_Weights
    from torchvision.models.detection import mask_rcnn
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

    arch = config["arch"]
    num_classes = int(config["num_classes"])
    kw = dict(config.get("kwargs", {}))
    anchors = kw.pop("anchor_sizes", None)
    trainable = kw.pop("trainable_layers", None)
    fpn_channels = int(kw.pop("fpn_channels", 256))
    tv_kw = {k: v for k, v in kw.items() if k in _TV_OPTIONS}
    tv_kw.update(image_mean=list(image_mean), image_std=list(image_std))
    if anchors is not None or arch == "maskrcnn_resnet18_fpn":
        sizes = tuple((int(s),) for s in (anchors or (16, 32, 64, 128, 256)))
        if len(sizes) != 5:
            raise ParameterError(f"anchor_sizes {anchors} must give 5 sizes, one per FPN level")
        tv_kw["rpn_anchor_generator"] = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 5)
    choice = "none" if weights is None else str(weights).lower()
    local: Path | None = None
    if choice not in WEIGHT_CHOICES:
        local = Path(str(weights))
        if not local.is_file():
            raise ParameterError(
                f"weights '{weights}' is neither {', '.join(WEIGHT_CHOICES)} nor an existing file; "
                "give the path of a .pth state dict"
            )
        choice = "none"
    if choice == "coco" and arch == "maskrcnn_resnet18_fpn":
        raise ParameterError(
            "torchvision has no COCO weights for maskrcnn_resnet18_fpn; use --weights imagenet "
            "(backbone only) or --model maskrcnn_resnet50_fpn --weights coco"
        )
    try:
        if arch == "maskrcnn_resnet18_fpn":
            backbone = resnet_fpn_backbone(
                backbone_name="resnet18",
                weights=ResNet18_Weights.DEFAULT if choice == "imagenet" else None,
                # From scratch the frozen (identity) BatchNorm would leave the backbone unnormalised.
                norm_layer=nn.BatchNorm2d if choice == "none" else _frozen_bn(),
                trainable_layers=5 if choice == "none" else (3 if trainable is None else int(trainable)),
            )
            if fpn_channels != 256:
                _narrow_fpn(backbone, fpn_channels)
            net = mask_rcnn.MaskRCNN(backbone, **{**_light_heads(num_classes, fpn_channels), **tv_kw})
        else:
            fn = getattr(mask_rcnn, arch)
            enum = (
                mask_rcnn.MaskRCNN_ResNet50_FPN_Weights
                if arch == "maskrcnn_resnet50_fpn"
                else mask_rcnn.MaskRCNN_ResNet50_FPN_V2_Weights
            )
            extra = {} if trainable is None else {"trainable_backbone_layers": int(trainable)}
            if choice == "coco":
                net = fn(weights=enum.DEFAULT, **extra, **tv_kw)
                _replace_heads(net, num_classes)
            else:
                backbone_w = ResNet50_Weights.DEFAULT if choice == "imagenet" else None
                net = fn(weights=None, weights_backbone=backbone_w, num_classes=num_classes, **extra, **tv_kw)
    except OSError as exc:  # URLError, connection errors: no network
        raise _offline(f"torchvision '{arch}' ({choice})", exc) from exc
    if local is not None:
        from segscope.models.registry import _load_local_weights

        # Tensors matching by name and shape are loaded; heads of another class count (e.g.
        # COCO's 91) are skipped and stay freshly initialised.
        _load_local_weights(net, local)
    return net


def _narrow_fpn(backbone: Any, channels: int) -> None:
    """Give ``resnet_fpn_backbone``'s FPN ``channels`` outputs instead of its fixed 256.

    torchvision builds the FPN with 256 channels and no option; its 3x3 convolutions at stride
    4 (and the RPN conv that reads them) dominate a CPU training step, so the CPU model may
    replace it with torchvision's own ``FeaturePyramidNetwork`` of the same inputs.
    """
    from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool

    in_channels = [int(block[0].in_channels) for block in backbone.fpn.inner_blocks]
    backbone.fpn = FeaturePyramidNetwork(in_channels, channels, extra_blocks=LastLevelMaxPool())
    backbone.out_channels = channels


def _light_heads(num_classes: int, channels: int = 256) -> dict[str, Any]:
    """Smaller heads and fewer proposals for the CPU model (torchvision's defaults spend ~90% of
    the CPU time in the 12544 -> 1024 box head run on 2000 proposals per image)."""
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor

    return {
        "box_head": TwoMLPHead(channels * 7 * 7, 256),
        "box_predictor": FastRCNNPredictor(256, num_classes),
        "mask_head": MaskRCNNHeads(channels, [128, 128], 1),
        "mask_predictor": MaskRCNNPredictor(128, 128, num_classes),
        "num_classes": None,
        "rpn_pre_nms_top_n_train": 1000,
        "rpn_post_nms_top_n_train": 500,
        "rpn_pre_nms_top_n_test": 500,
        "rpn_post_nms_top_n_test": 300,
        "box_batch_size_per_image": 128,
    }


def _frozen_bn() -> Any:
    from torchvision.ops.misc import FrozenBatchNorm2d

    return FrozenBatchNorm2d


# ---------------------------------------------------------------------------------- prediction
def outputs_to_instances(
    output: dict[str, torch.Tensor], height: int, width: int, *, mask_threshold: float = 0.5
) -> Instances:
    """One torchvision detection dict (``boxes``, ``labels``, ``scores``, ``masks``) -> Instances.

    Soft masks are thresholded at ``mask_threshold``; detections whose mask is then empty are
    dropped, so every instance has a mask whose bounding box is its box.
    """
    masks = output["masks"][:, 0].detach().cpu().numpy() > mask_threshold
    scores = output["scores"].detach().cpu().numpy().astype(np.float64)
    labels = output["labels"].detach().cpu().numpy().astype(np.int64)
    keep = masks.any(axis=(1, 2)) if len(masks) else np.zeros(0, bool)
    if not keep.any():
        return Instances.empty(height, width, with_scores=True)
    return Instances.from_masks(masks[keep], labels[keep], scores=np.clip(scores[keep], 0.0, 1.0))


def instances_to_mask(inst: Instances, *, dtype: Any = np.uint8) -> np.ndarray:
    """Label map of the objects, higher scores painted last (on top)."""
    order = np.argsort(inst.scores if inst.scores is not None else np.zeros(len(inst)), kind="stable")
    return inst[order].to_semantic(dtype=dtype) if len(inst) else np.zeros((inst.height, inst.width), dtype)


class InstancePredictor:
    """A trained Mask R-CNN + preprocessing -> :class:`Prediction` with instances.

    Has the interface :func:`segscope.inference.predict_dataset` uses (``predict``,
    ``class_map``, ``backend``, ``info``).

    Examples
    --------
    >>> predictor = InstancePredictor.load("runs/maskrcnn")  # doctest: +SKIP
    >>> pred = predictor.predict(image)  # doctest: +SKIP
    >>> pred.instances.boxes.shape  # doctest: +SKIP
    (12, 4)
    """

    def __init__(
        self,
        net: nn.Module,
        preprocessing: Preprocessing,
        *,
        score_threshold: float = 0.05,
        mask_threshold: float = 0.5,
        device: str = "auto",
        info: dict[str, Any] | None = None,
    ) -> None:
        if not 0 <= score_threshold < 1 or not 0 < mask_threshold < 1:
            raise ParameterError(
                f"score_threshold={score_threshold} must be in [0, 1) and mask_threshold={mask_threshold} in (0, 1)"
            )
        from segscope.utils.device import resolve_device

        device = resolve_device(device)
        self.net = net.to(device).eval()
        self.preprocessing = preprocessing
        self.score_threshold = score_threshold
        self.mask_threshold = mask_threshold
        self.device = device
        self.backend = "torch"
        self.info = {**(info or {}), "task": "instance", "device": device}

    @property
    def class_map(self) -> ClassMap:
        cm = self.preprocessing.class_map
        return (
            ClassMap.from_dict(cm) if cm else ClassMap.default(int(self.info["model_config"]["num_classes"]))
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str = "auto", **kwargs: Any) -> InstancePredictor:
        """From a run dir or a checkpoint written by instance training, on ``device`` (``auto``:
        a CUDA GPU when torch sees one; ``cpu``, ``cuda``, ``cuda:N``)."""
        net, pre, config = load_instance_model(path)
        return cls(net, pre, device=device, info={"model_config": config}, **kwargs)

    def predict(
        self,
        image: np.ndarray,
        *,
        tile: int | None = None,
        tta: bool = False,
        **_: Any,
    ) -> Prediction:
        """Objects in a raw ``(H, W[, C])`` image (any size; the model resizes internally)."""
        if tile or tta:
            raise ParameterError("Mask R-CNN predicts whole images; drop --tile and --tta")
        x = self.preprocessing.channels_last(np.asarray(image))
        h, w = x.shape[:2]
        tensor = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).to(self.device)
        with torch.inference_mode():
            out = self.net([tensor])[0]
        inst = outputs_to_instances(out, h, w, mask_threshold=self.mask_threshold)
        if len(inst) and self.score_threshold > 0:
            inst = inst[np.flatnonzero(inst.scores >= self.score_threshold)]
        mask = instances_to_mask(inst, dtype=self.class_map.mask_dtype)
        return Prediction(
            mask, instances=inst, info={"kind": "instances", "num_instances": len(inst), "backend": "torch"}
        )


def load_instance_model(path: str | os.PathLike[str]) -> tuple[nn.Module, Preprocessing, dict[str, Any]]:
    """``(net, preprocessing, model_config)`` of a Mask R-CNN run dir or checkpoint, in eval mode."""
    from segscope.models.checkpoint import resolve_checkpoint

    file = resolve_checkpoint(path)
    payload = read_checkpoint(file)
    hp = payload.get("hyper_parameters", {})
    config = hp.get("model_config", {})
    if config.get("task") != "instance":
        raise FormatError(
            f"{file}: is not an instance model (Mask R-CNN); for a semantic model use "
            "'segscope predict --task instance', which adds the watershed pipeline"
        )
    pre = Preprocessing.from_dict(hp["preprocessing"])
    net = build_maskrcnn(config, weights=None, image_mean=pre.mean, image_std=pre.std)
    state = {k[4:]: v for k, v in payload["state_dict"].items() if k.startswith("net.")}
    net.load_state_dict(state)
    net.eval()
    return net, pre, config


def read_checkpoint(file: Path) -> dict[str, Any]:
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem becomes one line
        raise FormatError(f"{file}: not a readable torch checkpoint ({exc}); re-save or re-train") from exc
    if not isinstance(payload, dict):
        raise DataError(f"{file}: not a segscope checkpoint; expected a dict payload")
    return payload
