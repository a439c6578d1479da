import numpy as np
import pytest

from segscope.errors import ParameterError
from segscope.inference import Predictor, export_onnx, sliding_window, tile_starts
from segscope.models import Preprocessing, create_model, save_model
from segscope.models.preprocessing import normalize_per_image, shift_image

torch = pytest.importorskip("torch")

TINY = {"encoder_depth": 3, "decoder_channels": (16, 8, 4)}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    net = create_model("unet", encoder="resnet18", in_channels=3, num_classes=3, **TINY)
    pre = Preprocessing(3, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3), scale=255.0)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model(path, net, pre)
    return path


def smooth_image(h, w, seed=0):
    import scipy.ndimage as ndi

    rng = np.random.default_rng(seed)
    img = ndi.gaussian_filter(rng.random((h, w, 3)), (6, 6, 0))
    img = (img - img.min()) / (img.max() - img.min())
    return (img * 255).astype(np.uint8)


def test_tile_starts_cover_the_image():
    assert tile_starts(100, 32, 24) == [0, 24, 48, 68]
    assert tile_starts(20, 32, 24) == [0]


def test_one_tile_equals_untiled(model_file):
    pred = Predictor.load(model_file, device="cpu")
    image = smooth_image(70, 90)
    whole = pred.predict_probs(image)
    one_tile = pred.predict_probs(image, tile=128, overlap=16)
    np.testing.assert_array_equal(whole, one_tile)
    # and equals the network on the padded, preprocessed image computed independently
    net = pred  # noqa: F841
    from segscope.models import load_model

    model, pre = load_model(model_file)
    x = torch.from_numpy(pre.apply(image))[None]
    ref = model.predict(x)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(whole, ref, atol=1e-5)


def test_tiled_prediction_is_seamless(model_file):
    pred = Predictor.load(model_file, device="cpu")
    image = smooth_image(160, 160, seed=1)
    tile, overlap = 64, 24
    probs = pred.predict_probs(image, tile=tile, overlap=overlap, batch_size=3)
    whole = pred.predict_probs(image)
    assert probs.shape == (160, 160, 3)
    np.testing.assert_allclose(probs.sum(2), 1.0, atol=1e-5)
    # Away from tile borders the blend is close to the whole-image prediction.
    assert np.abs(probs - whole).mean() < 0.05
    # Horizontal jumps across the columns where tiles start or end are no larger than elsewhere.
    dx = np.abs(np.diff(probs, axis=1)).max(axis=2)  # (H, W-1): jump between column j and j+1
    starts = tile_starts(160, tile, tile - overlap)
    borders = sorted({s - 1 for s in starts if s > 0} | {s + tile - 1 for s in starts if s + tile < 160})
    inside = np.setdiff1d(np.arange(dx.shape[1]), borders)
    assert dx[:, borders].mean() <= 1.5 * dx[:, inside].mean()
    assert dx[:, borders].max() <= dx[:, inside].max()


def test_memmap_and_batches_give_the_same_result(model_file, tmp_path):
    pred = Predictor.load(model_file, device="cpu")
    image = smooth_image(72, 80, seed=2)
    a = pred.predict_probs(image, tile=48, overlap=16, batch_size=1)
    b = pred.predict_probs(image, tile=48, overlap=16, batch_size=5, memmap_dir=tmp_path)
    np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(ParameterError, match="overlap 48 must be smaller than the tile"):
        pred.predict_probs(image, tile=48, overlap=48)


@pytest.mark.parametrize("tta", [True, "flip", "hflip", "d4"])
def test_tta_of_a_pixelwise_model_is_unchanged(tta):
    # A per-pixel model commutes with flips and turns, so every TTA mode must map each output
    # back onto its own pixels; a non-square image checks the quarter turns' inverse.
    def fn(x):
        m = x.mean(axis=1, keepdims=True)
        return np.concatenate([m, 1 - m], axis=1)

    image = np.random.default_rng(0).random((20, 30)).astype(np.float32)
    pre = Preprocessing(1, (0.0,), (1.0,))
    p = Predictor(fn, pre, num_classes=2)
    np.testing.assert_allclose(p.predict_probs(image, tta=tta), p.predict_probs(image), atol=1e-6)
    probs = sliding_window(image, fn, num_classes=2, tile=8, overlap=2, prepare=pre.apply)
    np.testing.assert_allclose(probs[:, :, 0], image, atol=1e-6)


@pytest.mark.parametrize(
    "options", [{"per_image": "percentile"}, {"per_image": "grey-percentile"}, {"image_shift": (-0.6, 0.3)}]
)
def test_tiles_see_the_whole_image_where_preprocessing_needs_it(options):
    # A per-pixel model that outputs its prepared input: tiled, it must give what it gives on the
    # whole image. Stretched tile by tile, the dark left tiles and the bright right ones would
    # each span 0..1; shifted tile by tile, each tile would repeat its own edge where the image
    # goes on. Either way the output would jump at the tile edges.
    def fn(x):
        return np.concatenate([x, 1 - x], axis=1)

    y, x = np.mgrid[:40, :96].astype(np.float32)
    image = (0.1 + 0.9 * x / 95) * (0.5 + 0.4 * np.sin(0.7 * x) * np.cos(0.5 * y))  # dark left, bright right
    pre = Preprocessing(1, (0.0,), (1.0,), **options)
    p = Predictor(fn, pre, num_classes=2)
    whole = p.predict_probs(image)
    expected = image
    if "image_shift" in options:
        expected = shift_image(image, options["image_shift"])
        assert np.abs(expected - image).max() > 0.1
    if "per_image" in options:
        expected = normalize_per_image(image, options["per_image"])
    np.testing.assert_allclose(whole[..., 0], expected, atol=1e-6)
    np.testing.assert_allclose(p.predict_probs(image, tile=32, overlap=8, batch_size=2), whole, atol=1e-5)


def test_tta_modes_average_the_transforms_they_name():
    # A model that answers "how far down am I" (row / (H - 1)) whatever the input: its TTA
    # average shows which transforms each mode applied. Up-down flips turn the ramp r into 1 - r;
    # quarter turns make it a column ramp.
    def fn(x):
        h, w = x.shape[-2:]
        ramp = np.broadcast_to(np.linspace(0, 1, h, dtype=np.float32)[:, None], (h, w))
        r = np.broadcast_to(ramp, (x.shape[0], 1, h, w))
        return np.concatenate([r, 1 - r], axis=1)

    pre = Preprocessing(1, (0.0,), (1.0,))
    p = Predictor(fn, pre, num_classes=2)
    image = np.zeros((16, 16), np.float32)
    r = np.broadcast_to(np.linspace(0, 1, 16, dtype=np.float32)[:, None], (16, 16))
    np.testing.assert_allclose(p.predict_probs(image, tta="hflip")[..., 0], r, atol=1e-6)
    np.testing.assert_allclose(p.predict_probs(image, tta="flip")[..., 0], (2 * r + 1 - r) / 3, atol=1e-6)
    np.testing.assert_allclose(p.predict_probs(image, tta="d4")[..., 0], 0.5, atol=1e-6)
    np.testing.assert_allclose(p.predict_probs(image, tta="none")[..., 0], r, atol=1e-6)
    with pytest.raises(ParameterError, match="unknown TTA mode 'rot'; use one of flip, hflip, d4"):
        p.predict_probs(image, tta="rot")


def test_vflip_shift_moves_the_up_down_view_back_onto_an_offset_the_model_learnt():
    # A model whose class-0 output sits 1 row above the bright line it sees (out[y] = image[y + 1]),
    # like ISBI's masks above their membranes: an up-down flipped view, mapped back, puts its
    # output 1 row below the line, 2 rows from its own, so plain flip TTA splits the answer;
    # vflip_shift=-2 moves that view back up and the TTA output matches the model's own. (A model
    # trained with VerticalFlipKeepOffset(mask_shift=k) learns an offset of about k / 2: shift k.)
    def fn(x):
        m = x[:, :1]
        up = np.concatenate([m[:, :, 1:], m[:, :, -1:]], axis=2)
        return np.concatenate([up, 1 - up], axis=1)

    pre = Preprocessing(1, (0.0,), (1.0,))
    p = Predictor(fn, pre, num_classes=2)
    image = np.zeros((20, 12), np.float32)
    image[9] = 1.0
    own = p.predict_probs(image)[..., 0]
    assert own[8].min() == 1.0 and own.sum() == 12
    plain = p.predict_probs(image, tta="flip")[..., 0]
    np.testing.assert_allclose(plain[8], 2 / 3, atol=1e-6)
    np.testing.assert_allclose(plain[10], 1 / 3, atol=1e-6)
    np.testing.assert_allclose(p.predict_probs(image, tta="flip", vflip_shift=-2)[..., 0], own, atol=1e-6)
    # Moving the other way puts the view 2 rows further down; tiles get the same treatment.
    np.testing.assert_allclose(p.predict_probs(image, tta="flip", vflip_shift=2)[12, :, 0], 1 / 3, atol=1e-6)
    tiled = p.predict_probs(image, tta="flip", vflip_shift=-2, tile=16, overlap=4)[..., 0]
    np.testing.assert_allclose(tiled, own, atol=1e-6)
    for mode in ("d4", "hflip", "none"):
        with pytest.raises(ParameterError, match=f"vflip_shift=-1 needs TTA mode 'flip'.*, not {mode}:"):
            p.predict_probs(image, tta=mode, vflip_shift=-1)


def test_onnx_export_parity_and_metadata(model_file, tmp_path):
    report = export_onnx(model_file, tmp_path / "m.onnx")
    assert report.max_abs_diff <= 1e-4
    onnx_pred = Predictor.load(tmp_path / "m.onnx")
    torch_pred = Predictor.load(model_file, device="cpu")
    assert onnx_pred.backend == "onnx" and onnx_pred.preprocessing == torch_pred.preprocessing
    image = smooth_image(75, 101, seed=3)  # not divisible by the stride: padded for both
    np.testing.assert_allclose(onnx_pred.predict_probs(image), torch_pred.predict_probs(image), atol=1e-4)
    batch = onnx_pred.predict_probs(image, tile=48, overlap=8, batch_size=4)  # dynamic batch
    assert batch.shape == (75, 101, 3)
    with pytest.raises(ParameterError, match="needs an .onnx file"):
        Predictor.load(model_file, backend="onnx")


def test_device_choice(model_file, tmp_path):
    pred = Predictor.load(model_file, device="cpu")
    assert pred.info["device"] == "cpu"
    auto = Predictor.load(model_file)
    assert auto.info["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    export_onnx(model_file, tmp_path / "m.onnx")
    with pytest.raises(
        ParameterError, match="the onnx backend runs on the CPU; use --backend torch on a GPU"
    ):
        Predictor.load(tmp_path / "m.onnx", device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_prediction_equals_cpu_prediction(model_file, monkeypatch):
    image = smooth_image(300, 260, seed=5)
    cpu = Predictor.load(model_file, device="cpu").predict_probs(image, tile=128, overlap=32, tta=True)
    gpu = Predictor.load(model_file, device="cuda").predict_probs(image, tile=128, overlap=32, tta=True)
    # torch's default on a GPU: convolutions in TF32 (10-bit mantissa), so ~1e-4 apart (2e-4 seen on an H200).
    np.testing.assert_allclose(gpu, cpu, atol=1e-3)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    gpu32 = Predictor.load(model_file, device="cuda").predict_probs(image, tile=128, overlap=32, tta=True)
    np.testing.assert_allclose(gpu32, cpu, atol=1e-4)  # the ONNX parity bar


def test_predict_dataset_writes_layout(model_file, tmp_path):
    from segscope.core.classes import ClassMap
    from segscope.core.dataset import Dataset, Sample
    from segscope.inference import predict_dataset

    img = smooth_image(40, 50)
    ds = Dataset([Sample("a", load_image=lambda: img)], ClassMap.default(3))
    n = predict_dataset(Predictor.load(model_file, device="cpu"), ds, tmp_path / "out", probs_dtype="float16")
    assert n == 1
    probs = np.load(tmp_path / "out" / "probs" / "a.npy")
    assert probs.dtype == np.float16 and probs.shape == (40, 50, 3)
    assert (tmp_path / "out" / "masks" / "a.png").is_file()
    assert (tmp_path / "out" / "run.json").is_file()


def _full_accumulator_reference(image, fn, *, num_classes, tile, overlap):
    """The textbook version: one (H, W, K) sum and one (H, W) weight sum for the whole image."""
    from segscope.inference import gaussian_window

    h, w = image.shape[:2]
    acc = np.zeros((h, w, num_classes), np.float32)
    wsum = np.zeros((h, w), np.float32)
    window = gaussian_window(tile, tile)
    for y in tile_starts(h, tile, tile - overlap):
        for x in tile_starts(w, tile, tile - overlap):
            t = np.ascontiguousarray(image[y : y + tile, x : x + tile].transpose(2, 0, 1))[None]
            acc[y : y + tile, x : x + tile] += np.moveaxis(fn(t)[0], 0, -1) * window[:, :, None]
            wsum[y : y + tile, x : x + tile] += window
    return acc / wsum[:, :, None]


@pytest.mark.parametrize(
    ("shape", "tile", "overlap", "batch"), [((90, 70), 32, 8, 3), ((64, 200), 40, 13, 1)]
)
def test_row_band_blending_equals_a_full_accumulator(shape, tile, overlap, batch, tmp_path):
    rng = np.random.default_rng(4)
    image = rng.random((*shape, 2)).astype(np.float32)
    weights = rng.normal(size=(3, 2)).astype(np.float32)

    def fn(x):  # per-pixel softmax of a linear map: independent of batching and tile position
        logits = np.einsum("kc,bchw->bkhw", weights, x)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    want = _full_accumulator_reference(image, fn, num_classes=3, tile=tile, overlap=overlap)
    got = sliding_window(image, fn, num_classes=3, tile=tile, overlap=overlap, batch_size=batch)
    np.testing.assert_array_equal(got, want)
    mapped = sliding_window(
        image, fn, num_classes=3, tile=tile, overlap=overlap, batch_size=batch, memmap_dir=tmp_path
    )
    assert isinstance(mapped, np.memmap)
    np.testing.assert_array_equal(np.asarray(mapped), want)
