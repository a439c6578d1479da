import numpy as np
import pytest

from segscope.core.classes import ClassMap, voc_palette
from segscope.errors import DataError, FormatError


def test_voc_palette_matches_known_colours():
    pal = voc_palette()
    assert pal[0].tolist() == [0, 0, 0]
    assert pal[1].tolist() == [128, 0, 0]
    assert pal[15].tolist() == [192, 128, 128]  # VOC 'person'
    assert pal[255].tolist() == [224, 224, 192]  # VOC 'void'


def test_value_mapping_encodes_and_decodes_0_255_masks():
    cm = ClassMap(("membrane", "cell"), values={0: 0, 255: 1})
    stored = np.array([[0, 255], [255, 0]], np.uint8)
    ids = cm.encode(stored)
    assert ids.tolist() == [[0, 1], [1, 0]]
    assert (cm.decode(ids) == stored).all()


def test_encode_rejects_unknown_values_and_names_the_fix():
    cm = ClassMap(("a", "b"), values={0: 0, 255: 1})
    with pytest.raises(DataError, match=r"masks/x.png: label values \[7\] .* add them to the classes file"):
        cm.encode(np.array([[0, 7]], np.uint8), source="masks/x.png")


def test_check_accepts_ignore_and_rejects_out_of_range():
    cm = ClassMap.default(3)
    cm.check(np.array([[0, 2, 255]]))
    with pytest.raises(DataError, match=r"label values \[5\] are not classes 0..2 nor ignore_index 255"):
        cm.check(np.array([[0, 5]]))


def test_ignore_index_may_not_be_a_class_id():
    with pytest.raises(DataError, match="ignore_index 1 is also the id of class 'b'"):
        ClassMap(("a", "b"), ignore_index=1)


def test_duplicate_names_and_colour_count_are_errors():
    with pytest.raises(DataError, match="unique"):
        ClassMap(("a", "a"))
    with pytest.raises(DataError, match="one colour per class"):
        ClassMap(("a", "b"), colors=((1, 2, 3),))


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_classes_file_round_trip(tmp_path, suffix):
    cm = ClassMap(("membrane", "cell"), colors=((255, 0, 0), (0, 0, 255)), values={0: 0, 255: 1})
    path = tmp_path / f"classes{suffix}"
    cm.save(path)
    again = ClassMap.load(path)
    assert again == cm


def test_classes_file_errors_name_the_file(tmp_path):
    path = tmp_path / "classes.yaml"
    path.write_text("classes: [")
    with pytest.raises(FormatError, match=r"classes.yaml: not valid YAML"):
        ClassMap.load(path)
    path.write_text("classes:\n  - colour: [1, 2, 3]\n")
    with pytest.raises(FormatError, match="class entry 0 has no 'name'"):
        ClassMap.load(path)


def test_rgb_masks_decode_with_the_colour_table():
    cm = ClassMap(("bg", "road"), colors=((0, 0, 0), (128, 64, 128)))
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 1] = (128, 64, 128)
    rgb[1, 1] = (224, 224, 192)  # ignore colour
    assert cm.encode_rgb(rgb).tolist() == [[0, 1], [0, 255]]
    assert (cm.colorize(np.array([[0, 1]]))[0, 1] == (128, 64, 128)).all()
    rgb[0, 0] = (1, 2, 3)
    with pytest.raises(DataError, match=r"colours \[\(1, 2, 3\)\] are not in the class colour table"):
        cm.encode_rgb(rgb)


def test_mask_dtype_grows_with_classes():
    assert ClassMap.default(4).mask_dtype == np.uint8
    assert ClassMap.default(300, ignore_index=65535).mask_dtype == np.uint16
