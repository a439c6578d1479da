import csv
import json
import urllib.error

import numpy as np
import pytest

from segscope.errors import ParameterError

from .conftest import shapes_dataset

torch = pytest.importorskip("torch")

TINY = {"min_size": 64, "max_size": 64}


def test_config_errors():
    from segscope.instance.maskrcnn import maskrcnn_config

    with pytest.raises(ParameterError, match="takes 3-channel images, got in_channels=5"):
        maskrcnn_config("maskrcnn_resnet18_fpn", num_classes=2, in_channels=5)
    with pytest.raises(ParameterError, match=r"unknown Mask R-CNN option\(s\) \['min_sz'\]"):
        maskrcnn_config("maskrcnn_resnet18_fpn", num_classes=2, min_sz=3)
    with pytest.raises(ParameterError, match="'unet' is not an instance architecture"):
        maskrcnn_config("unet", num_classes=2)
    cfg = maskrcnn_config("maskrcnn", num_classes=3)
    assert cfg["arch"] == "maskrcnn_resnet50_fpn" and cfg["task"] == "instance"


@pytest.mark.slow
def test_offline_download_error_names_both_ways_out(monkeypatch):
    import torchvision.models._api as tv_api

    from segscope.instance.maskrcnn import build_maskrcnn, maskrcnn_config
    from segscope.models import OfflineWeightsError

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", no_network)
    config = maskrcnn_config("maskrcnn_resnet50_fpn", num_classes=2)
    with pytest.raises(OfflineWeightsError, match=r"--weights PATH.*--weights none"):
        build_maskrcnn(config, weights="coco")
    with pytest.raises(ParameterError, match="no COCO weights for maskrcnn_resnet18_fpn"):
        build_maskrcnn(maskrcnn_config("maskrcnn_resnet18_fpn", num_classes=2), weights="coco")


def test_local_weights_file(tmp_path):
    from segscope.instance.maskrcnn import build_maskrcnn, maskrcnn_config

    config = maskrcnn_config("maskrcnn_resnet18_fpn", num_classes=3, **TINY)
    torch.manual_seed(1)
    src = build_maskrcnn(config)
    torch.save(src.state_dict(), tmp_path / "w.pth")
    torch.manual_seed(2)
    net = build_maskrcnn(config, weights=tmp_path / "w.pth")
    for (name, a), b in zip(src.state_dict().items(), net.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    with pytest.raises(ParameterError, match="neither none, coco, imagenet nor an existing file"):
        build_maskrcnn(config, weights=tmp_path / "missing.pth")


def test_augmented_boxes_match_masks():
    from segscope.instance.training import InstanceDataset
    from segscope.models.preprocessing import Preprocessing
    from segscope.training.augment import make_augmentation

    ds = shapes_dataset(4, size=64)
    pre = Preprocessing(3, (0.5,) * 3, (0.25,) * 3, scale=255.0)
    data = InstanceDataset(ds, pre, transform=make_augmentation("default", crop=48, ignore_index=0))
    for i in range(len(ds)):
        x, t = data[i]
        assert x.shape == (3, 48, 48)
        masks = t["masks"].numpy().astype(bool)
        assert len(masks) == len(t["boxes"]) == len(t["labels"])
        for m, box in zip(masks, t["boxes"].numpy(), strict=True):
            rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
            assert box.tolist() == [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]
        assert set(t["labels"].tolist()) <= {1, 2, 3}


def test_outputs_to_instances_drops_empty_masks():
    from segscope.instance.maskrcnn import outputs_to_instances

    masks = torch.zeros((3, 1, 10, 12))
    masks[0, 0, 2:5, 3:8] = 0.9
    masks[2, 0, 6:9, 1:4] = 0.7
    masks[2, 0, 0, 0] = 0.4  # below the mask threshold
    out = {"masks": masks, "scores": torch.tensor([0.9, 0.8, 0.3]), "labels": torch.tensor([1, 2, 2])}
    inst = outputs_to_instances(out, 10, 12)
    assert len(inst) == 2
    assert inst.labels.tolist() == [1, 2] and inst.scores.tolist() == pytest.approx([0.9, 0.3])
    assert inst.boxes.tolist() == [[3, 2, 8, 5], [1, 6, 4, 9]]


@pytest.mark.slow
def test_tiny_maskrcnn_trains_and_round_trips_through_coco(tmp_path):
    from segscope.formats import load_dataset
    from segscope.inference import predict_dataset
    from segscope.instance import load_predictor
    from segscope.instance.maskrcnn import InstancePredictor
    from segscope.training import train

    torch.set_num_threads(2)
    ds = shapes_dataset(6, size=64)
    result = train(
        ds,
        tmp_path / "run",
        task="instance",
        model="maskrcnn_resnet18_fpn",
        encoder=None,
        model_kwargs=TINY,
        epochs=3,
        batch_size=2,
        lr=1e-3,
        schedule="none",
        augment="none",
        mlflow=False,
        overlays=1,
    )
    with (tmp_path / "run" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    losses = [float(r["train_loss"]) for r in rows]
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    assert result.monitor == "val_ap" and 0 <= result.best_val_miou <= 1
    assert (tmp_path / "run" / "checkpoints" / "best.ckpt").is_file()
    assert len(list((tmp_path / "run" / "overlays").iterdir())) == 1

    predictor = load_predictor(tmp_path / "run", score_threshold=0.0)
    assert isinstance(predictor, InstancePredictor)
    val = ds.split("val")
    predict_dataset(predictor, val, tmp_path / "pred")
    coco = json.loads((tmp_path / "pred" / "instances.json").read_text())
    back = load_dataset(tmp_path / "pred")
    assert back.ids == val.ids
    n = 0
    for sample in val:
        direct = predictor.predict(sample.image).instances
        read = back[sample.id].instances
        n += len(direct)
        np.testing.assert_array_equal(read.to_masks(), direct.to_masks())
        np.testing.assert_allclose(read.scores, direct.scores, atol=1e-6)
        np.testing.assert_array_equal(read.labels, direct.labels)
        # box = mask bounding box, one label per mask, scores in [0, 1]
        np.testing.assert_allclose(read.boxes, direct.boxes)
        assert ((direct.scores >= 0) & (direct.scores <= 1)).all()
    assert len(coco["annotations"]) == n
    with pytest.raises(ParameterError, match="drop --task semantic"):
        load_predictor(tmp_path / "run", task="semantic")


def test_fpn_channels_narrows_the_fpn_and_the_heads_that_read_it():
    from segscope.instance.maskrcnn import build_maskrcnn, maskrcnn_config

    with pytest.raises(ParameterError, match="fpn_channels is an option of maskrcnn_resnet18_fpn"):
        maskrcnn_config("maskrcnn_resnet50_fpn", num_classes=2, fpn_channels=128)
    with pytest.raises(ParameterError, match="fpn_channels=4 must be >= 8"):
        maskrcnn_config("maskrcnn_resnet18_fpn", num_classes=2, fpn_channels=4)
    config = maskrcnn_config("maskrcnn_resnet18_fpn", num_classes=2, fpn_channels=64, **TINY)
    net = build_maskrcnn(config).eval()
    assert net.backbone.out_channels == 64
    assert [b[0].in_channels for b in net.backbone.fpn.inner_blocks] == [64, 128, 256, 512]
    assert {b[0].out_channels for b in net.backbone.fpn.layer_blocks} == {64}
    assert net.rpn.head.conv[0][0].in_channels == 64
    assert net.roi_heads.box_head.fc6.in_features == 64 * 7 * 7
    assert net.roi_heads.mask_head[0][0].in_channels == 64
    default = build_maskrcnn(maskrcnn_config("maskrcnn_resnet18_fpn", num_classes=2, **TINY))
    assert default.backbone.out_channels == 256
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params < sum(p.numel() for p in default.parameters())
    with torch.inference_mode():
        out = net([torch.rand(3, 64, 64)])[0]
    assert set(out) == {"boxes", "labels", "scores", "masks"}
