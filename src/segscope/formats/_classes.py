"""Classes files, plus the COCO category ids a class map came from (kept so writing restores them)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segscope.core.classes import CLASSES_FILENAMES, ClassMap
from segscope.errors import FormatError

__all__ = ["find_classes_file", "read_classes", "classes_dict", "write_classes", "coco_ids", "with_coco_ids"]

_COCO_NOTE = "coco_category_ids: "


def find_classes_file(root: Path) -> Path | None:
    for name in CLASSES_FILENAMES:
        if (root / name).is_file():
            return root / name
    return None


def coco_ids(class_map: ClassMap) -> list[int] | None:
    """COCO category id of classes 1..K, when the class map came from (or is bound for) COCO."""
    for note in class_map.notes:
        if note.startswith(_COCO_NOTE):
            return [int(v) for v in json.loads(note[len(_COCO_NOTE) :])]
    return None


def with_coco_ids(class_map: ClassMap, ids: Sequence[int]) -> ClassMap:
    ids = [int(i) for i in ids]
    if len(ids) != class_map.num_classes - 1 or len(set(ids)) != len(ids):
        raise FormatError(
            f"coco_category_ids {ids} must be {class_map.num_classes - 1} distinct ids, one per class "
            "after the background; fix the classes file"
        )
    notes = tuple(n for n in class_map.notes if not n.startswith(_COCO_NOTE)) + (
        _COCO_NOTE + json.dumps(ids),
    )
    return dataclasses.replace(class_map, notes=notes)


def classes_from_dict(data: Any, *, source: str) -> ClassMap:
    cm = ClassMap.from_dict(data, source=source)
    if isinstance(data, dict) and data.get("coco_category_ids"):
        cm = with_coco_ids(cm, data["coco_category_ids"])
    return cm


def read_classes(path: str | Path) -> ClassMap:
    """Read a classes file (``ClassMap.load``) and its optional ``coco_category_ids`` list."""
    path = Path(path)
    cm = ClassMap.load(path)  # validates and gives the error messages
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
    else:
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return classes_from_dict(data, source=str(path)) if isinstance(data, dict) else cm


def classes_dict(class_map: ClassMap) -> dict[str, Any]:
    data = class_map.to_dict()
    ids = coco_ids(class_map)
    if ids:
        data["coco_category_ids"] = ids
    return data


def write_classes(class_map: ClassMap, path: Path) -> None:
    """Write ``classes.yaml`` (or ``.json``) including the COCO category ids when known."""
    from segscope.utils.files import write_json, write_text

    data = classes_dict(class_map)
    if path.suffix.lower() == ".json":
        write_json(path, data)
    else:
        import yaml

        write_text(path, yaml.safe_dump(data, sort_keys=False))
