"""train(per_image=..., boundary_width=...): options stored in the run and applied at prediction."""

import numpy as np
import pytest
import yaml
from tests.instance.conftest import shapes_dataset

from segscope.inference import Predictor
from segscope.models.preprocessing import normalize_per_image
from segscope.training import train


@pytest.mark.slow
def test_per_image_and_boundary_width_travel_with_the_model(tmp_path):
    ds = shapes_dataset(4, size=32)
    result = train(
        ds,
        tmp_path / "run",
        target="fg-boundary",
        boundary_width=2,
        per_image="grey-percentile",
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
    assert saved["train"]["per_image"] == "grey-percentile" and saved["train"]["boundary_width"] == 2
    predictor = Predictor.load(result.best_checkpoint)
    pre = predictor.preprocessing
    assert pre.per_image == "grey-percentile" and pre.in_channels == 1
    image = ds[0].image  # RGB: reduced to one normalised grey channel before the network
    x = pre.apply(image)
    np.testing.assert_allclose(x[0], (normalize_per_image(image) - pre.mean[0]) / pre.std[0], atol=1e-5)
    probs = predictor.predict_probs(image)
    assert probs.shape == (*image.shape[:2], 3)
