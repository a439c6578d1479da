import sys
import urllib.error

import numpy as np
import pytest

from segscope.errors import DataError, ParameterError
from segscope.models import (
    TINY_MODEL,
    OfflineWeightsError,
    Preprocessing,
    create_model,
    list_models,
    load_model,
    save_model,
)

torch = pytest.importorskip("torch")

TINY = {k: v for k, v in TINY_MODEL.items() if k not in ("arch", "encoder")}


def tiny(in_channels=1, num_classes=2, **kw):
    return create_model(
        "unet", encoder="resnet18", in_channels=in_channels, num_classes=num_classes, **TINY, **kw
    )


def test_import_does_not_pull_torch_into_core():
    import subprocess

    code = "import segscope, segscope.models, segscope.cli.main, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_list_models_wildcards_and_names():
    assert list_models("deeplab*")[:2] == ["deeplabv3", "deeplabv3plus"]
    assert "lraspp-mobilenet-v3-large" in list_models()
    assert list_models("nothing*") == []


@pytest.mark.parametrize("arch", ["unet", "fpn", "deeplabv3plus", "linknet", "lraspp_mobilenet_v3_large"])
@pytest.mark.parametrize("in_channels", [1, 5])
def test_any_channels_any_size(arch, in_channels):
    kw = {"encoder": "resnet18"} if "_" not in arch else {}
    if arch == "unet":
        kw.update(TINY)
    net = create_model(arch, in_channels=in_channels, num_classes=3, **kw)
    probs = net.predict(torch.randn(2, in_channels, 45, 70))
    assert probs.shape == (2, 3, 45, 70)
    np.testing.assert_allclose(probs.sum(1).numpy(), 1.0, atol=1e-5)


def test_names_case_insensitive_and_wrong_names_listed():
    assert tiny().config["arch"] == "unet"
    assert create_model("UNet", encoder="resnet18", **TINY).config["arch"] == "unet"
    with pytest.raises(
        ParameterError, match=r"unknown architecture 'unett' \(did you mean 'unet'\?\); valid"
    ):
        create_model("unett")
    with pytest.raises(ParameterError, match=r"unknown encoder 'resnet19' \(did you mean 'resnet18'\?\)"):
        create_model("unet", encoder="resnet19")
    with pytest.raises(ParameterError, match="fixed backbone"):
        create_model("fcn_resnet50", encoder="resnet18")


def test_forward_checks_divisibility_and_names_padding():
    net = create_model("fpn", encoder="resnet18", in_channels=1, num_classes=2)
    with pytest.raises(DataError, match=r"divisible by 32 .* got \(50, 70\); pad to \(64, 96\)"):
        net(torch.randn(1, 1, 50, 70))
    with pytest.raises(DataError, match=r"must be \(N, 1, H, W\)"):
        net(torch.randn(1, 3, 64, 64))
    assert net.predict(torch.randn(1, 1, 50, 70)).shape == (1, 2, 50, 70)


def test_offline_pretrained_error_names_both_ways_out(monkeypatch):
    import segmentation_models_pytorch.encoders as enc

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(enc, "hf_hub_download", no_network)
    with pytest.raises(
        OfflineWeightsError, match=r"no network\? pass a local file with --weights PATH.*--weights none"
    ):
        create_model("unet", encoder="resnet18", weights="imagenet", **TINY)


def test_offline_torchvision_backbone(monkeypatch):
    import torchvision.models._api as api

    def no_network(self, *args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(api.WeightsEnum, "get_state_dict", no_network)
    with pytest.raises(OfflineWeightsError, match="--weights PATH.*--weights none"):
        create_model("lraspp_mobilenet_v3_large", weights="imagenet")


def test_local_weights_file_and_bundle_roundtrip(tmp_path):
    torch.manual_seed(0)
    a = tiny()
    torch.save(a.net.state_dict(), tmp_path / "w.pt")
    b = tiny(weights=tmp_path / "w.pt")
    x = torch.randn(1, 1, 32, 32)
    torch.testing.assert_close(a.predict(x), b.predict(x))
    with pytest.raises(ParameterError, match="neither 'imagenet', 'none' nor an existing file"):
        tiny(weights=tmp_path / "missing.pt")
    pre = Preprocessing(1, (0.5,), (0.2,), scale=255.0)
    save_model(tmp_path / "m.pt", a, pre)
    c, pre2 = load_model(tmp_path / "m.pt")
    assert pre2 == pre
    torch.testing.assert_close(a.predict(x), c.predict(x))


def test_full_resolution_skip_sees_single_pixels_and_exports(tmp_path):
    """``full_res_skip=C`` adds a C-channel skip from the input at full resolution to smp's U-Net
    (its decoders drop the input-resolution feature map); checkpoints and ONNX rebuild it."""
    from segscope.inference import Predictor, export_onnx

    torch.manual_seed(0)
    net = tiny(full_res_skip=8).eval()
    assert sum(p.numel() for p in net.net.skip.parameters()) > 0
    assert net.divisor == 8  # the encoder's stride, as without the skip
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        out = net(x)
    assert out.shape == (1, 2, 32, 32)
    with pytest.raises(ParameterError, match="full_res_skip=4: .* unet and unetplusplus only"):
        create_model("fpn", encoder="resnet18", in_channels=1, num_classes=2, full_res_skip=4)
    # The checkpoint and the ONNX export rebuild the same network.
    pre = Preprocessing(1, (0.5,), (0.2,), scale=255.0)
    save_model(tmp_path / "m.pt", net, pre)
    loaded, _ = load_model(tmp_path / "m.pt")
    torch.testing.assert_close(net.predict(x), loaded.predict(x))
    image = (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)
    export_onnx(tmp_path / "m.pt", tmp_path / "m.onnx")
    a = Predictor.load(tmp_path / "m.pt").predict_probs(image)
    b = Predictor.load(tmp_path / "m.onnx").predict_probs(image)
    np.testing.assert_allclose(a, b, atol=1e-4)
