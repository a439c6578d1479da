"""The torch device for ``--device``: ``auto`` (a CUDA GPU when torch sees one), ``cpu``, ``cuda`` or ``cuda:N``."""

from __future__ import annotations

from segscope.errors import ParameterError

__all__ = ["DEVICES", "resolve_device"]

DEVICES = ("auto", "cpu", "cuda", "cuda:N")


def resolve_device(device: str) -> str:
    """``device`` as a torch device name, checked against the GPUs torch sees.

    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("tpu")
    Traceback (most recent call last):
    ...
    segscope.errors.ParameterError: unknown device 'tpu'; use auto, cpu, cuda or cuda:N
    """
    import torch

    name = str(device).strip().lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return name
    index = name.removeprefix("cuda").removeprefix(":")
    if not name.startswith("cuda") or (index and not index.isdigit()):
        raise ParameterError(f"unknown device '{device}'; use {', '.join(DEVICES[:-1])} or {DEVICES[-1]}")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ParameterError(f"--device {device} but torch sees no CUDA GPU; use --device cpu (or auto)")
    if index and int(index) >= count:
        raise ParameterError(f"--device {device} but torch sees {count} GPU(s), cuda:0 to cuda:{count - 1}")
    return name
