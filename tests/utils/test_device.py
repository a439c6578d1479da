import pytest

from segscope.errors import ParameterError
from segscope.utils.device import resolve_device

torch = pytest.importorskip("torch")


def _gpus(monkeypatch, count):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_auto_is_the_gpu_when_torch_sees_one(monkeypatch):
    _gpus(monkeypatch, 0)
    assert resolve_device("auto") == "cpu"
    _gpus(monkeypatch, 2)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("CUDA:1") == "cuda:1"
    assert resolve_device("cpu") == "cpu"


def test_device_errors_name_the_way_out(monkeypatch):
    _gpus(monkeypatch, 0)
    with pytest.raises(
        ParameterError, match=r"--device cuda but torch sees no CUDA GPU; use --device cpu \(or auto\)"
    ):
        resolve_device("cuda")
    _gpus(monkeypatch, 1)
    with pytest.raises(ParameterError, match=r"--device cuda:1 but torch sees 1 GPU\(s\), cuda:0 to cuda:0"):
        resolve_device("cuda:1")
    for bad in ("gpu0", "cuda:x", "mps"):
        with pytest.raises(ParameterError, match="unknown device"):
            resolve_device(bad)
