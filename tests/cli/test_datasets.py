"""Tests for ``segscope datasets make-shapes``."""

from __future__ import annotations

import pytest

from segscope.cli.main import main
from segscope.datasets.shapes import make_shapes_arrays


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code or 0)


def test_make_shapes_writes_and_summarises(tmp_path, capsys):
    out = tmp_path / "shapes"
    assert _run(["datasets", "make-shapes", str(out), "--n", "4", "--size", "48", "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    instances = sum(len(lab) for lab in make_shapes_arrays(4, size=48, seed=2).labels)
    assert f"4 samples, {instances} instances (train 3, val 1, test 0)" in printed
    assert str(out) in printed.replace("\n", "")
    assert len(list((out / "images").glob("*.png"))) == 4


def test_make_shapes_channels_option(tmp_path, capsys):
    out = tmp_path / "bands"
    assert _run(["datasets", "make-shapes", str(out), "--n", "2", "--size", "40", "--channels", "4"]) == 0
    assert len(list((out / "images").glob("*.npy"))) == 2


def test_make_shapes_errors_are_one_line(tmp_path, capsys):
    out = tmp_path / "shapes"
    assert _run(["datasets", "make-shapes", str(out), "--n", "2", "--size", "40"]) == 0
    capsys.readouterr()
    assert _run(["datasets", "make-shapes", str(out), "--n", "2", "--size", "40"]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("error: ") and "not empty" in err and "--overwrite" in err and "Traceback" not in err
    )
    assert _run(["datasets", "make-shapes", str(out), "--n", "2", "--size", "40", "--overwrite"]) == 0
    assert _run(["datasets", "make-shapes", str(tmp_path / "y"), "--size", "8"]) == 1
    assert "size=8" in capsys.readouterr().err


def test_help_has_an_example(capsys):
    assert _run(["datasets", "make-shapes", "--help"]) == 0
    assert "segscope datasets make-shapes" in capsys.readouterr().out
