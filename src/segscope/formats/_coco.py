"""COCO instance JSON: polygons, uncompressed and compressed RLE, crowd regions (read and write)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from segscope.core.classes import ClassMap
from segscope.core.dataset import Dataset, Sample
from segscope.core.instances import Instances
from segscope.errors import DataError, FormatError
from segscope.formats._classes import classes_dict, classes_from_dict, coco_ids, with_coco_ids
from segscope.formats._common import prepare_output, put_image, rel, tag
from segscope.formats.files import read_image
from segscope.utils.files import write_json
from segscope.utils.progress import progress

__all__ = [
    "read_coco",
    "write_coco",
    "coco_jsons",
    "load_coco_json",
    "decode_instances",
    "instances_to_semantic",
]

# Polygon points may sit on the far image edge (x == width); beyond this many pixels they are an error.
_POLYGON_TOLERANCE = 1.0


def coco_jsons(path: Path) -> list[tuple[Path, str | None]]:
    """The COCO JSON files of a dataset path, each with its split name (``None`` for one file)."""
    if path.is_file():
        return [(path, None)]
    if (path / "annotations.json").is_file():
        return [(path / "annotations.json", None)]
    files = sorted((path / "annotations").glob("*.json")) if (path / "annotations").is_dir() else []
    if len(files) == 1:
        return [(files[0], None)]
    return [(f, f.stem.removeprefix("instances_")) for f in files]


def load_coco_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise tag(
            FormatError(f"{path}: not readable JSON ({exc}); fix or re-export the file"), "unreadable file"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise FormatError(f"{path}: not a COCO instance file (no 'images' list); export COCO instance JSON")
    if not isinstance(data.get("annotations", []), list) or not isinstance(data.get("categories", []), list):
        raise FormatError(f"{path}: 'annotations' and 'categories' must be lists; export COCO instance JSON")
    return data


def _polygon_rle(seg: list, height: int, width: int, *, where: str) -> dict[str, Any]:
    polys = [np.asarray(p, np.float64).reshape(-1) for p in seg]
    if any(p.size < 6 or p.size % 2 for p in polys):
        raise tag(
            FormatError(f"{where}: a polygon has fewer than 3 (x, y) points; drop it or fix the export"),
            "bad annotation",
        )
    pts = np.concatenate(polys).reshape(-1, 2)
    t = _POLYGON_TOLERANCE
    if (pts < -t).any() or (pts[:, 0] > width + t).any() or (pts[:, 1] > height + t).any():
        raise tag(
            FormatError(
                f"{where}: polygon points span x {pts[:, 0].min():g}..{pts[:, 0].max():g}, "
                f"y {pts[:, 1].min():g}..{pts[:, 1].max():g}, outside the {width}x{height} (W x H) image; "
                "clip the polygon to the image or fix the image size"
            ),
            "polygon outside image",
        )
    return mask_utils.merge(mask_utils.frPyObjects([p.tolist() for p in polys], height, width))


def decode_instances(
    anns: Sequence[dict[str, Any]],
    height: int,
    width: int,
    cat_to_class: dict[int, int],
    *,
    source: str,
    image_name: str,
) -> Instances:
    """COCO annotations of one image -> :class:`Instances`, in annotation order."""
    rles, labels, crowd, scores = [], [], [], []
    for ann in anns:
        where = f"{source}: annotation {ann.get('id')} (image '{image_name}')"
        cat = ann.get("category_id")
        if cat not in cat_to_class:
            raise tag(
                FormatError(
                    f"{where} has category_id {cat}, not in the categories {sorted(cat_to_class)}; "
                    "add the category or fix the annotation"
                ),
                "unknown category",
            )
        seg = ann.get("segmentation")
        if isinstance(seg, list) and seg:
            rle = _polygon_rle(seg, height, width, where=where)
        elif isinstance(seg, dict) and "counts" in seg:
            if [int(v) for v in seg.get("size", [])] != [height, width]:
                raise tag(
                    FormatError(
                        f"{where}: RLE size {seg.get('size')} differs from the image size [{height}, {width}]; "
                        "re-encode the mask at the image size"
                    ),
                    "bad annotation",
                )
            if isinstance(seg["counts"], list):  # uncompressed RLE
                rle = mask_utils.frPyObjects(seg, height, width)
            else:
                counts = seg["counts"]
                rle = {
                    "size": [height, width],
                    "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
                }
        else:
            raise tag(
                FormatError(f"{where} has no polygon or RLE 'segmentation'; add one or drop the annotation"),
                "bad annotation",
            )
        rles.append(rle)
        labels.append(cat_to_class[cat])
        crowd.append(bool(ann.get("iscrowd", 0)))
        scores.append(ann.get("score"))
    has_scores = bool(scores) and all(s is not None for s in scores)
    return Instances(
        rles,
        np.asarray(labels, np.int64),
        height,
        width,
        np.asarray(scores, float) if has_scores else None,
        crowd,
    )


def instances_to_semantic(load: Callable[[], Instances], ignore_index: int, dtype: np.dtype) -> np.ndarray:
    return load().to_semantic(ignore_index=ignore_index, dtype=dtype)


def _missing(message: str) -> None:
    raise tag(DataError(message), "missing file")


def _class_map(
    data: list[dict[str, Any]], categories: dict[int, dict[str, Any]], classes: ClassMap | None
) -> ClassMap:
    ids = sorted(categories)
    names = [str(categories[i].get("name", f"category_{i}")) for i in ids]
    if classes is not None:
        if coco_ids(classes):
            return classes
        if classes.num_classes - 1 != len(ids):
            raise FormatError(
                f"the classes file has {classes.num_classes - 1} classes after the background but the COCO "
                f"categories are {len(ids)} ({names}); list one class per category"
            )
        return with_coco_ids(classes, ids)
    for d in data:  # written by segscope: restores names, colours, ignore index and value mapping
        saved = (d.get("info") or {}).get("segscope_classes") if isinstance(d.get("info"), dict) else None
        if saved:
            cm = classes_from_dict(saved, source="COCO info.segscope_classes")
            if coco_ids(cm) == ids:
                return cm
    background = "background" if "background" not in names else "_background"
    colors = [categories[i].get("color") for i in ids]
    if all(isinstance(c, list) and len(c) == 3 for c in colors):
        cm = ClassMap((background, *names), ((0, 0, 0), *[tuple(c) for c in colors]))  # type: ignore[misc]
    else:
        cm = ClassMap((background, *names))
    return with_coco_ids(cm, ids)


def read_coco(path: Path, *, classes: ClassMap | None = None) -> Dataset:
    """Read COCO instance JSON (a ``.json`` file, or a folder with ``annotations.json`` or
    ``annotations/*.json`` and ``images/``) into an instance dataset."""
    jsons = coco_jsons(path)
    if not jsons:
        raise FormatError(f"{path}: no COCO JSON found; give a .json file or a folder with annotations.json")
    data = [load_coco_json(j) for j, _ in jsons]
    categories: dict[int, dict[str, Any]] = {}
    for d in data:
        for cat in d.get("categories", []):
            categories.setdefault(int(cat["id"]), cat)
    cm = _class_map(data, categories, classes)
    cids = coco_ids(cm) or []
    cat_to_class = {cat: k + 1 for k, cat in enumerate(cids)}
    root = path if path.is_dir() else path.parent
    samples: list[Sample] = []
    seen: set[str] = set()
    for (json_path, split), d in zip(jsons, data, strict=True):
        by_image: dict[Any, list[dict[str, Any]]] = {}
        for ann in d.get("annotations", []):
            by_image.setdefault(ann.get("image_id"), []).append(ann)
        source = rel(json_path, root)
        for img in d["images"]:
            file_name = str(img.get("file_name", ""))
            if "width" not in img or "height" not in img:
                raise FormatError(
                    f"{json_path}: image entry {img.get('id')} ('{file_name}') has no width/height; add them"
                )
            h, w = int(img["height"]), int(img["width"])
            img_split = split or img.get("split")
            candidates = [root / "images" / file_name, json_path.parent / file_name]
            if img_split:
                candidates.insert(1, root / "images" / str(img_split) / file_name)
            image_path = next((c for c in candidates if c.is_file()), None)
            sid = Path(file_name).stem
            if sid in seen:
                sid = f"{sid}-{img.get('id')}"
            seen.add(sid)
            if image_path is None:
                load_image: Callable[[], Any] = functools.partial(
                    _missing,
                    f"{source} names image '{file_name}' (id {img.get('id')}) but {rel(candidates[0], root)} does "
                    "not exist; add the file or remove the image entry",
                )
            else:
                load_image = functools.partial(read_image, image_path)
            load_inst = functools.partial(
                decode_instances,
                tuple(by_image.get(img.get("id"), [])),
                h,
                w,
                cat_to_class,
                source=source,
                image_name=file_name,
            )
            samples.append(
                Sample(
                    sid,
                    load_image=load_image,
                    load_mask=functools.partial(
                        instances_to_semantic, load_inst, cm.ignore_index, cm.mask_dtype
                    ),
                    load_instances=load_inst,
                    image_path=image_path or candidates[0],
                    mask_path=json_path,
                    split=str(img_split) if img_split else None,
                    metadata={"coco_image_id": img.get("id"), "height": h, "width": w},
                )
            )
    notes = [
        f"COCO categories {dict(zip(cids, cm.names[1:], strict=True))} read as class ids 1..{len(cids)}, 0 = background"
    ]
    return Dataset(samples, cm, root=path, format="coco", task="instance", notes=notes)


def write_coco(dataset: Dataset, path: Path, *, overwrite: bool = False) -> Path:
    """Write ``images/`` and ``annotations.json`` (compressed RLE, instances in their order;
    semantic-only samples become one annotation per connected component per class)."""
    json_path = path if path.suffix.lower() == ".json" else path / "annotations.json"
    root = prepare_output(json_path.parent, overwrite=overwrite)
    cm = dataset.class_map
    cids = coco_ids(cm) or list(range(1, cm.num_classes))
    cm = with_coco_ids(cm, cids)
    label_to_cat = {k + 1: cat for k, cat in enumerate(cids)}
    # COCO has no ignore class: ignore regions become crowd regions of the first category, which
    # evaluation ignores and reading maps back to ignore_index.
    crowd_cat = cids[0] if cids else 1
    images, annotations = [], []
    for image_id, s in enumerate(progress(dataset, total=len(dataset), desc="write coco"), start=1):
        file_name = f"{s.id}.png"
        shape = None
        if s.load_image is not None:
            dst = put_image(s.id, s.image_path, s.load_image, root / "images")
            file_name = dst.name
        inst = s.instances if s.load_instances is not None else None
        if inst is None and s.has_gt:
            mask = s.mask
            inst = Instances.from_semantic(mask, ignore_index=cm.ignore_index)  # type: ignore[arg-type]
        if inst is not None:
            shape = (inst.height, inst.width)
        elif s.load_image is not None:
            shape = s.image.shape[:2]
        if shape is None:
            raise DataError(f"sample {s.id}: has neither image nor ground truth; nothing to write to COCO")
        entry: dict[str, Any] = {
            "id": image_id,
            "file_name": file_name,
            "height": int(shape[0]),
            "width": int(shape[1]),
        }
        if s.split:
            entry["split"] = s.split
        images.append(entry)
        if inst is None or len(inst) == 0:
            continue
        bad = sorted(
            {
                int(v)
                for v, c in zip(inst.labels, inst.iscrowd, strict=True)
                if not c and int(v) not in label_to_cat
            }
        )
        if bad:
            raise DataError(
                f"sample {s.id}: instance labels {bad} are not classes 1..{cm.num_classes - 1}; "
                "fix the labels or the classes file"
            )
        cats = dict(label_to_cat)
        cats.update(
            {
                int(v): crowd_cat
                for v, c in zip(inst.labels, inst.iscrowd, strict=True)
                if c and int(v) not in cats
            }
        )
        annotations.extend(inst.to_coco(image_id, first_id=len(annotations) + 1, category_ids=cats))
    categories = [
        {"id": cat, "name": cm.names[k + 1], "supercategory": "", "color": list(cm.colors[k + 1])}
        for k, cat in enumerate(cids)
    ]
    from segscope import __version__

    info = {"description": f"written by segscope {__version__}", "segscope_classes": classes_dict(cm)}
    write_json(
        json_path, {"info": info, "images": images, "annotations": annotations, "categories": categories}
    )
    return json_path.parent
