"""train(per_image=..., image_shift=..., boundary_width=...): options stored in the run and applied at prediction."""

import numpy as np
import pytest
import yaml
from tests.instance.conftest import shapes_dataset

from segscope.inference import Predictor, export_onnx
from segscope.models.preprocessing import normalize_per_image, shift_image
from segscope.training import train


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["grey-percentile", "percentile"])
def test_per_image_image_shift_and_boundary_width_travel_with_the_model(tmp_path, mode):
    ds = shapes_dataset(4, size=32)
    result = train(
        ds,
        tmp_path / "run",
        target="fg-boundary",
        boundary_width=2,
        per_image=mode,
        image_shift=[-0.6, 0.2],
        model="unet",
        encoder="resnet18",
        model_kwargs={"encoder_depth": 3, "decoder_channels": [16, 8, 4]},
        epochs=1,
        batch_size=2,
        mlflow=False,
        overlays=0,
        progress_bar=False,
    )
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["train"]["per_image"] == mode and saved["train"]["boundary_width"] == 2
    assert saved["train"]["image_shift"] == [-0.6, 0.2] and saved["preprocessing"]["image_shift"] == [
        -0.6,
        0.2,
    ]
    predictor = Predictor.load(result.best_checkpoint)
    pre = predictor.preprocessing
    image = ds[0].image  # RGB: grey-percentile reduces it to one normalised grey channel, percentile keeps 3
    assert pre.per_image == mode and pre.in_channels == (1 if mode == "grey-percentile" else 3)
    assert pre.image_shift == (-0.6, 0.2)
    x = pre.apply(image)
    expected = normalize_per_image(shift_image(image, (-0.6, 0.2)), mode).reshape(
        *image.shape[:2], pre.in_channels
    )
    np.testing.assert_allclose(x, ((expected - pre.mean) / pre.std).transpose(2, 0, 1), atol=1e-5)
    probs = predictor.predict_probs(image)
    assert probs.shape == (*image.shape[:2], 3)
    # The ONNX file carries the same preprocessing in its metadata.
    assert Predictor.load(export_onnx(tmp_path / "run").path).preprocessing == pre
