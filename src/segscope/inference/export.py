"""Export a trained model to ONNX (dynamic batch and size), with preprocessing in the metadata."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segscope.errors import DataError, ParameterError

__all__ = ["ExportReport", "export_onnx", "EXPORT_FORMATS"]

EXPORT_FORMATS = ("onnx",)


@dataclass
class ExportReport:
    path: Path
    max_abs_diff: float
    input_shape: tuple[int, ...]
    opset: int


def export_onnx(
    model: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    opset: int = 17,
    check: bool = True,
    atol: float = 1e-4,
    seed: int = 0,
) -> ExportReport:
    """Export a run dir or checkpoint to ONNX; the graph outputs softmax probabilities.

    Input ``input`` is ``(N, C, H, W) float32`` with dynamic N, H, W (H, W divisible by the
    stored ``divisor``; :class:`~segscope.inference.Predictor` pads for you). Model config,
    preprocessing and divisor are stored as JSON under the metadata key ``segscope``.

    With ``check``, probabilities from ONNX Runtime and torch on a random input (two images of
    a size other than the traced one) are compared; a difference above ``atol`` raises.

    Examples
    --------
    >>> report = export_onnx("runs/unet")  # doctest: +SKIP
    >>> report.max_abs_diff < 1e-4  # doctest: +SKIP
    True
    """
    import onnx
    import torch

    from segscope.inference.predictor import ONNX_METADATA_KEY
    from segscope.models.checkpoint import load_model, resolve_checkpoint
    from segscope.utils.files import atomic_path

    src = Path(model)
    net, pre = load_model(src)
    if out is None:
        out = (src if src.is_dir() else resolve_checkpoint(src).parent.parent) / "model.onnx"
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ParameterError(f"{out}: the output file must end in .onnx")

    class ProbsModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.net.logits(x), dim=1)

    wrapper = ProbsModel().eval()
    d = max(net.divisor, 32)
    example = torch.randn(1, net.in_channels, 2 * d, 2 * d)
    with atomic_path(out) as tmp:
        # The TorchScript-based exporter handles smp/torchvision models with dynamic H, W reliably.
        torch.onnx.export(
            wrapper,
            (example,),
            str(tmp),
            input_names=["input"],
            output_names=["probs"],
            dynamic_axes={
                "input": {0: "batch", 2: "height", 3: "width"},
                "probs": {0: "batch", 2: "height", 3: "width"},
            },
            opset_version=opset,
            dynamo=False,
        )
        proto = onnx.load(str(tmp))
        record = {"model_config": net.config, "preprocessing": pre.to_dict(), "divisor": net.divisor}
        entry = proto.metadata_props.add()
        entry.key, entry.value = ONNX_METADATA_KEY, json.dumps(record)
        onnx.save(proto, str(tmp))

    diff = float("nan")
    shape = (2, net.in_channels, 3 * d, 4 * d)
    if check:
        import onnxruntime as ort

        x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = session.run(None, {"input": x})[0]
        with torch.inference_mode():
            want = wrapper(torch.from_numpy(x)).numpy()
        diff = float(np.abs(got - want).max())
        if not diff <= atol:
            raise DataError(
                f"{out}: ONNX probabilities differ from torch by {diff:.3g} (> {atol}); "
                "try another --opset or report the architecture"
            )
    return ExportReport(path=out, max_abs_diff=diff, input_shape=shape, opset=opset)
