import numpy as np
import pytest

from segscope.catalog import Catalog
from segscope.cli.main import main
from segscope.formats.files import write_mask


def _folder(root, masks):
    for i, m in enumerate(masks):
        write_mask(root / "masks" / f"s{i}.png", m)
    return root


def test_evaluate_into_stores_evaluation_and_predictions(tmp_path, capsys):
    rng = np.random.default_rng(0)
    gt = [rng.integers(0, 3, (8, 9)).astype(np.uint8) for _ in range(3)]
    pred = [g.copy() for g in gt]
    pred[1][:4] = 0
    _folder(tmp_path / "gt", gt)
    _folder(tmp_path / "pred", pred)
    ws = tmp_path / "ws.db"
    args = [
        "evaluate",
        str(tmp_path / "gt"),
        str(tmp_path / "pred"),
        "--into",
        "toy",
        "--key",
        "e1",
        "-w",
        str(ws),
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "stored evaluation 'e1' and predictions 'e1-pred'" in out
    cat = Catalog(ws)
    assert {r["key"] for r in cat.runs("toy")} == {"e1", "e1-pred"}
    ious = cat.values("toy", "e1")
    assert ious["s0"]["iou"] == 1.0 and ious["s1"]["iou"] < 1.0
    # Confusion pairs come from the attached prediction run: s1 has truth != 0 predicted as 0.
    confused = {r["sample_id"] for r in cat.confusion_samples("toy", "e1", 1, 0)}
    assert "s1" in confused and "s0" not in confused


def test_segment_into_attaches_a_prediction_run(tmp_path):
    from segscope.catalog import Catalog
    from segscope.formats.files import write_image

    rng = np.random.default_rng(1)
    for i in range(2):
        img = (rng.random((16, 16)) * 50).astype(np.uint8)
        img[4:12, 4:12] += 150
        write_image(tmp_path / "ds" / "images" / f"s{i}.png", img)
        write_mask(tmp_path / "ds" / "masks" / f"s{i}.png", (img > 100).astype(np.uint8))
    ws = str(tmp_path / "ws.db")
    with pytest.raises(SystemExit) as e:
        main(["add", str(tmp_path / "ds"), "--name", "toy", "-w", ws])
    assert e.value.code == 0
    args = ["segment", str(tmp_path / "ds" / "images"), "-m", "otsu", "-o", str(tmp_path / "otsu")]
    with pytest.raises(SystemExit) as e:
        main([*args, "--into", "toy", "-w", ws])
    assert e.value.code == 0
    runs = Catalog(ws).run_samples("toy", "otsu")
    assert sorted(runs) == ["s0", "s1"]
