"""The method registry and generic parameter parsing/checking."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import segscope.classical as classical
from segscope.classical import METHODS, get_method, segment
from segscope.errors import ParameterError

IMG = np.eye(8, dtype=np.uint8) * 200


def test_registry_lists_every_method_of_the_brief() -> None:
    expected = {
        "threshold", "otsu", "multi-otsu", "li", "yen", "triangle", "adaptive", "sauvola", "niblack",
        "canny-fill", "sobel-fill", "region-growing", "watershed", "random-walker",
        "kmeans", "slic", "felzenszwalb", "quickshift",
    }  # fmt: skip
    assert set(METHODS.list()) == expected
    assert METHODS.list("*otsu") == ["otsu", "multi-otsu"]


@pytest.mark.parametrize("name", METHODS.list())
def test_spec_defaults_match_the_function_signature(name: str) -> None:
    spec = get_method(name)
    sig = inspect.signature(spec.func)
    for p in spec.params:
        assert sig.parameters[p.name].default == p.default
        assert p.check(p.default, method=name) == p.default or p.default is None
        assert p.help


def test_public_function_checks_like_segment() -> None:
    with pytest.raises(ParameterError, match="nbins"):
        classical.otsu(IMG, nbins=1)
    assert classical.otsu(IMG).info["method"] == "otsu"


def test_unknown_method_suggests_the_closest() -> None:
    with pytest.raises(
        ParameterError,
        match=r"unknown method 'otsuu' \(did you mean 'otsu'\?\); valid methods: threshold, otsu",
    ):
        segment(IMG, "otsuu")


def test_wrong_parameter_name_lists_the_valid_ones() -> None:
    with pytest.raises(
        ParameterError,
        match=r"method 'otsu' has no parameter 'polarty' \(did you mean 'polarity'\?\); valid parameters: nbins, polarity, channel",
    ):
        segment(IMG, "otsu", polarty="dark")


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        (
            "otsu",
            {"polarity": "drak"},
            r"'polarity' = 'drak' is not allowed \(did you mean 'dark'\?\); valid values: bright, dark",
        ),
        ("multi-otsu", {"classes": 1}, r"'classes' = 1 is out of range; expected an int in \[2, 32\]"),
        ("multi-otsu", {"classes": 2.5}, r"'classes' = 2.5 is not an integer"),
        ("adaptive", {"block_size": 10}, r"'block_size' = 10 must be odd; use 11"),
        ("kmeans", {"k": "three"}, r"'k' got 'three', which is not an int in \[2, 64\]"),
        ("canny-fill", {"fill": "maybe"}, r"'fill' got 'maybe', which is not true or false"),
        ("watershed", {"seeds": "1,2,3"}, r"'seeds' = \[\[1, 2, 3\]\] is not a list of \(row, col\)"),
        ("otsu", {"polarity": None}, r"'polarity' cannot be None"),
    ],
)
def test_wrong_values_name_the_valid_ones(method: str, params: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        segment(IMG, method, **params)


def test_parse_key_value_strings() -> None:
    spec = get_method("watershed")
    got = spec.parse(["min_distance=3", "seeds=1,2;3,4", "polarity=DARK", "channel=none"])
    assert got == {"min_distance": 3, "seeds": [[1, 2], [3, 4]], "polarity": "dark", "channel": None}
    assert spec.parse(["seeds=[[5, 6]]"]) == {"seeds": [[5, 6]]}
    assert get_method("canny-fill").parse(["fill=no", "sigma=1.5"]) == {"fill": False, "sigma": 1.5}
    with pytest.raises(ParameterError, match=r"--param 'min_distance' is not key=value"):
        spec.parse(["min_distance"])


def test_strings_are_accepted_by_segment() -> None:
    assert segment(IMG, "multi-otsu", classes="2", nbins="64").mask.max() == 1


def test_class_maps_follow_the_method_kind() -> None:
    assert get_method("otsu").class_map().names == ("background", "foreground")
    assert get_method("multi-otsu").class_map({"classes": 4}).num_classes == 4
    assert get_method("kmeans").class_map().num_classes == 2
    assert get_method("slic").class_map().names == ("background", "segment")
