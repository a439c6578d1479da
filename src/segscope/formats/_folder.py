"""Folder datasets: mask folders (label, palette or RGB masks), instance-id folders, NumPy folders.

Layout: ``images/`` and ``masks/`` with matching file stems, optionally split into
``images/<split>/`` subfolders or listed in ``splits/<split>.txt``; optional ``instances/``
(instance-id maps), ``probs/<id>.npy``, ``instances.json`` (COCO) and a classes file.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from segscope.core.classes import ClassMap
from segscope.core.dataset import Dataset, Sample
from segscope.core.instances import Instances
from segscope.errors import DataError, FormatError, SegscopeError
from segscope.formats._classes import coco_ids, find_classes_file, read_classes, write_classes
from segscope.formats._coco import decode_instances, load_coco_json
from segscope.formats._common import prepare_output, put_image, rel, sample_evenly, tag
from segscope.formats.files import (
    ARRAY_SUFFIXES,
    IMAGE_SUFFIXES,
    list_files,
    read_image,
    read_mask,
    read_palette_mask,
    write_image,
    write_mask,
    write_palette_mask,
)
from segscope.utils.files import write_text
from segscope.utils.progress import progress

__all__ = [
    "scan_folder",
    "inspect_masks",
    "read_mask_folder",
    "read_instance_folder",
    "read_numpy_folder",
    "write_mask_folder",
    "write_instance_folder",
]

SUFFIXES = IMAGE_SUFFIXES + ARRAY_SUFFIXES
_INSPECT = 32  # masks read to decide how values map to classes


def _natural(key: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


@dataclass
class Layout:
    root: Path
    images: dict[str, Path] = field(default_factory=dict)
    masks: dict[str, Path] = field(default_factory=dict)
    instances: dict[str, Path] = field(default_factory=dict)
    probs: dict[str, Path] = field(default_factory=dict)
    splits: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _collect(root: Path, name: str, lay: Layout) -> dict[str, Path]:
    folder = root / name
    if not folder.is_dir():
        return {}
    files = list_files(folder, SUFFIXES)
    subdirs = (
        [] if files else sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    )
    groups = [(None, files)] + [(d.name, list_files(d, SUFFIXES)) for d in subdirs]
    per_split = Counter(p.stem for _, fs in groups for p in fs)
    out: dict[str, Path] = {}
    for split, fs in groups:
        for p in fs:
            sid = p.stem if split is None or per_split[p.stem] == 1 else f"{split}/{p.stem}"
            if sid in out:
                lay.warnings.append(
                    f"{rel(p, root)}: same name stem as {rel(out[sid], root)}; rename or remove one "
                    f"(using {out[sid].name})"
                )
                continue
            out[sid] = p
            if split is not None:
                lay.splits[sid] = split
    return out


def scan_folder(root: Path) -> Layout:
    """Find the files of a folder dataset and their splits."""
    lay = Layout(root)
    lay.images = _collect(root, "images", lay)
    lay.masks = _collect(root, "masks", lay)
    lay.instances = _collect(root, "instances", lay)
    lay.probs = _collect(root, "probs", lay)
    split_dir = root / "splits"
    if split_dir.is_dir():
        known = set(lay.images) | set(lay.masks) | set(lay.instances)
        for txt in sorted(split_dir.glob("*.txt")):
            for line in txt.read_text(encoding="utf-8").splitlines():
                sid = line.strip()
                if not sid or sid.startswith("#"):
                    continue
                sid = Path(sid).stem if sid not in known else sid
                if sid not in known:
                    lay.warnings.append(
                        f"{rel(txt, root)}: lists '{sid}' but no such image or mask exists; remove the line"
                    )
                elif sid in lay.splits and lay.splits[sid] != txt.stem:
                    lay.warnings.append(
                        f"{rel(txt, root)}: '{sid}' is already in split '{lay.splits[sid]}'; list each id in one split"
                    )
                else:
                    lay.splits[sid] = txt.stem
    return lay


@dataclass
class MaskSummary:
    """What the inspected masks look like."""

    kind: str = "label"  # label, palette or rgb
    values: set[int] = field(default_factory=set)
    palette: np.ndarray | None = None
    id_maps: bool = False
    checked: int = 0


def inspect_masks(paths: list[Path]) -> MaskSummary:
    """Read up to 32 masks spread over ``paths`` and summarise their kind and values.

    ``id_maps`` is true when every inspected mask is uint16 with non-zero values exactly
    ``1..k`` (and at least one mask has objects): the mark of instance-id maps.
    """
    out = MaskSummary()
    kinds: set[str] = set()
    id_like = []
    for p in sample_evenly(paths, _INSPECT):
        try:
            arr, pal = (
                read_palette_mask(p) if p.suffix.lower() not in ARRAY_SUFFIXES else (read_mask(p), None)
            )
        except SegscopeError:
            continue  # unreadable files are reported by validation, not here
        out.checked += 1
        if arr.ndim == 3 and arr.shape[2] in (3, 4):
            kinds.add("rgb")
            continue
        kinds.add("palette" if pal is not None else "label")
        if pal is not None:
            out.palette = pal
        if not np.issubdtype(arr.dtype, np.integer):
            continue
        uniq = np.unique(arr)
        out.values.update(int(v) for v in uniq)
        nz = uniq[uniq != 0]
        id_like.append(arr.dtype == np.uint16 and np.array_equal(nz, np.arange(1, nz.size + 1)))
    out.kind = "rgb" if "rgb" in kinds else "palette" if kinds == {"palette"} else "label"
    out.id_maps = bool(id_like) and all(id_like) and out.kind == "label" and max(out.values, default=0) > 0
    return out


def _infer_classes(summary: MaskSummary, masks_dir: str) -> tuple[ClassMap, list[str]]:
    """A class map for masks without a classes file, and the note that says what was assumed."""
    if summary.kind == "rgb":
        raise FormatError(
            f"{masks_dir}: masks are RGB colour-coded but there is no classes file with colours; add "
            "classes.yaml with 'color: [r, g, b]' per class at the dataset root or pass --classes FILE"
        )
    if summary.values and summary.values <= {0, 255} and summary.kind == "label":
        cm = ClassMap(("class_0", "class_1"), values={0: 0, 255: 1})
        return cm, [
            f"{masks_dir}: no classes file and mask values are only 0 and 255: read as binary classes "
            "class_0 (value 0) and class_1 (value 255); add classes.yaml (or --classes FILE) to name them "
            "or to map 255 to ignore"
        ]
    labels = [v for v in summary.values if v != 255]
    n = max(labels, default=0) + 1
    if summary.kind == "palette" and summary.palette is not None:
        names = ClassMap.default(max(n, 1)).names
        cm = ClassMap(names, tuple(tuple(int(c) for c in summary.palette[i]) for i in range(len(names))))  # type: ignore[misc]
        return cm, [
            f"{masks_dir}: palette PNG masks read as class indices 0..{n - 1} (255 = ignore) with the "
            "palette's colours; add classes.yaml (or --classes FILE) to name the classes"
        ]
    cm = ClassMap.default(max(n, 2))
    return cm, [
        f"{masks_dir}: no classes file: label values 0..{cm.num_classes - 1} read as classes "
        f"{', '.join(cm.names[:5])}{', ...' if cm.num_classes > 5 else ''} (255 = ignore); add classes.yaml "
        "(or --classes FILE) to name them"
    ]


# ----------------------------------------------------------------------------- loaders
# Module-level functions bound with functools.partial, so samples stay picklable.


def load_label_mask(path: Path, source: str, class_map: ClassMap) -> np.ndarray:
    """Read a stored mask (label values, palette indices or RGB colours) as class ids."""
    raw = read_mask(path)
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[:, :, 0]
    if (
        np.issubdtype(raw.dtype, np.floating)
        and np.isfinite(raw).all()
        and np.array_equal(raw, np.round(raw))
    ):
        raw = raw.astype(np.int64)
    try:
        if raw.ndim == 3:
            return class_map.encode_rgb(raw[:, :, :3], source=source)
        return class_map.encode(raw, source=source)
    except DataError as exc:
        raise tag(exc, "unknown label") from None


def _read_ids(path: Path, source: str) -> np.ndarray:
    ids = read_mask(path)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise tag(
            DataError(
                f"{source}: an instance-id map must be a 2-D integer image, got shape {ids.shape} {ids.dtype}"
            ),
            "bad mask",
        )
    return ids


def load_id_semantic(path: Path, source: str) -> np.ndarray:
    return (_read_ids(path, source) > 0).astype(np.uint8)


def load_id_instances(
    path: Path, source: str, semantic: Callable[[], np.ndarray] | None = None, ignore_index: int = 255
) -> Instances:
    ids = _read_ids(path, source)
    sem = semantic() if semantic is not None else None
    return Instances.from_id_map(ids, semantic=sem, ignore_index=ignore_index)


def _alpha_note(images: list[Path]) -> list[str]:
    alpha = 0
    for p in images[:5000]:
        if p.suffix.lower() in (".png", ".tif", ".tiff"):
            try:
                with Image.open(p) as im:
                    alpha += im.mode in ("RGBA", "LA", "PA")
            except OSError:
                continue
    if not alpha:
        return []
    return [
        f"{alpha} of {len(images)} images have an alpha channel (RGBA); channels are kept as stored, "
        "use image[..., :3] for RGB"
    ]


def _prediction_instances(root: Path, class_map: ClassMap) -> dict[str, Callable[[], Instances]]:
    """Loaders for ``instances.json`` (COCO, as written by ``segscope segment``), by sample id."""
    path = root / "instances.json"
    if not path.is_file():
        return {}
    data = load_coco_json(path)
    ids = coco_ids(class_map)
    cat_to_class = (
        {c: k + 1 for k, c in enumerate(ids)} if ids else {c: c for c in range(class_map.num_classes)}
    )
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for ann in data.get("annotations", []):
        by_image.setdefault(ann.get("image_id"), []).append(ann)
    return {
        Path(str(img["file_name"])).stem: functools.partial(
            decode_instances,
            tuple(by_image.get(img["id"], [])),
            int(img["height"]),
            int(img["width"]),
            cat_to_class,
            source="instances.json",
            image_name=str(img["file_name"]),
        )
        for img in data["images"]
    }


def _sample_ids(lay: Layout, gt: dict[str, Path]) -> list[str]:
    if lay.images:
        for sid in sorted(set(gt) - set(lay.images), key=_natural):
            lay.warnings.append(
                f"{rel(gt[sid], lay.root)}: has no image in images/; add the image or remove the mask"
            )
        return sorted(lay.images, key=_natural)
    return sorted(set(gt) | set(lay.probs), key=_natural)


def _classes(root: Path, classes: ClassMap | None) -> ClassMap | None:
    if classes is not None:
        return classes
    found = find_classes_file(root)
    return read_classes(found) if found else None


def read_mask_folder(root: Path, *, classes: ClassMap | None = None, format: str = "mask-folder") -> Dataset:
    """Read a mask folder (semantic label maps, optionally instance-id maps beside them)."""
    lay = scan_folder(root)
    if not (lay.images or lay.masks or lay.instances):
        raise FormatError(
            f"{root}: no images/ or masks/ files found; point at the dataset root or pass --format"
        )
    notes: list[str] = []
    cm = _classes(root, classes)
    if lay.masks:
        summary = inspect_masks(list(lay.masks.values()))
        if cm is None:
            cm, notes = _infer_classes(summary, "masks/")
        elif summary.kind == "rgb":
            notes.append("masks/ are RGB colour-coded: decoded with the classes file's colours")
    if cm is None:
        cm = ClassMap(("background", "object"))
    preds = _prediction_instances(root, cm) if not lay.instances else {}
    samples = []
    for sid in _sample_ids(lay, {**lay.masks, **lay.instances}):
        img, mask, ids = lay.images.get(sid), lay.masks.get(sid), lay.instances.get(sid)
        load_mask = functools.partial(load_label_mask, mask, rel(mask, root), cm) if mask else None
        load_inst: Callable[[], Any] | None = preds.get(sid)
        if ids is not None:
            load_inst = functools.partial(load_id_instances, ids, rel(ids, root), load_mask, cm.ignore_index)
        samples.append(
            Sample(
                sid,
                load_image=functools.partial(read_image, img) if img else None,
                load_mask=load_mask,
                load_instances=load_inst,
                load_probs=functools.partial(read_image, lay.probs[sid]) if sid in lay.probs else None,
                image_path=img,
                mask_path=mask or ids,
                split=lay.splits.get(sid),
            )
        )
    notes += _alpha_note(list(lay.images.values()))
    task = "instance" if lay.instances or preds else "semantic"
    return Dataset(samples, cm, root=root, format=format, task=task, notes=notes, warnings=lay.warnings)


def read_numpy_folder(root: Path, *, classes: ClassMap | None = None) -> Dataset:
    """Read ``images/*.npy|npz`` and ``masks/*.npy|npz`` (any dtype and channel count)."""
    return read_mask_folder(root, classes=classes, format="numpy")


def read_instance_folder(root: Path, *, classes: ClassMap | None = None) -> Dataset:
    """Read ``images/`` + ``masks/`` (or ``instances/``) holding instance-id maps (0 = background)."""
    lay = scan_folder(root)
    id_maps = lay.masks or lay.instances
    if not (lay.images or id_maps):
        raise FormatError(
            f"{root}: no images/ or masks/ files found; point at the dataset root or pass --format"
        )
    cm = _classes(root, classes) or ClassMap(("background", "object"))
    samples = []
    for sid in _sample_ids(lay, id_maps):
        img, ids = lay.images.get(sid), id_maps.get(sid)
        samples.append(
            Sample(
                sid,
                load_image=functools.partial(read_image, img) if img else None,
                load_mask=functools.partial(load_id_semantic, ids, rel(ids, root)) if ids else None,
                load_instances=functools.partial(load_id_instances, ids, rel(ids, root)) if ids else None,
                image_path=img,
                mask_path=ids,
                split=lay.splits.get(sid),
            )
        )
    notes = [f"instance-id maps: 0 = background, k > 0 = object k, every object is class 1 ('{cm.names[1]}')"]
    notes += _alpha_note(list(lay.images.values()))
    return Dataset(
        samples, cm, root=root, format="instance-folder", task="instance", notes=notes, warnings=lay.warnings
    )


# ----------------------------------------------------------------------------- writers


def _write_common(
    dataset: Dataset,
    root: Path,
    class_map: ClassMap,
    put_gt: Callable[[Sample], None],
    *,
    arrays_only: bool,
    desc: str,
) -> Path:
    splits: dict[str, list[str]] = {}
    for s in progress(dataset, total=len(dataset), desc=desc):
        if s.load_image is not None:
            put_image(s.id, s.image_path, s.load_image, root / "images", arrays_only=arrays_only)
        put_gt(s)
        if s.load_probs is not None:
            write_image(root / "probs" / f"{s.id}.npy", s.probs)  # type: ignore[arg-type]
        if s.split:
            splits.setdefault(s.split, []).append(s.id)
    for name, ids in splits.items():
        write_text(root / "splits" / f"{name}.txt", "\n".join(ids) + "\n")
    write_classes(class_map, root / "classes.yaml")
    return root


def _mask_suffix(values: np.ndarray, arrays_only: bool) -> str:
    return ".npy" if arrays_only or (values.size and int(values.max()) > 65535) else ".png"


def write_mask_folder(
    dataset: Dataset, path: Path, *, overwrite: bool = False, style: str = "label", arrays_only: bool = False
) -> Path:
    """Write ``images/``, ``masks/`` (label values, ``palette`` PNGs or ``rgb`` colours),
    ``instances/`` id maps when samples have instances, ``probs/``, ``splits/`` and ``classes.yaml``."""
    root = prepare_output(path, overwrite=overwrite)
    cm = dataset.class_map
    if style in ("palette", "rgb"):
        # Palette indices and colours are class ids, so the stored-value mapping no longer applies.
        cm = ClassMap(
            cm.names, cm.colors, ignore_index=cm.ignore_index, ignore_color=cm.ignore_color, notes=cm.notes
        )
    if style == "rgb":
        colors = [*cm.colors, cm.ignore_color]
        dup = [c for c, n in Counter(colors).items() if n > 1]
        if dup:
            raise DataError(
                f"colours {dup} are used by more than one class (or the ignore colour); RGB masks need one "
                "colour per class: give unique colours in the classes file"
            )

    def put_gt(s: Sample) -> None:
        if s.load_mask is not None or s.load_instances is not None:
            mask = s.mask
            if style == "palette":
                write_palette_mask(root / "masks" / f"{s.id}.png", mask, cm.palette())  # type: ignore[arg-type]
            elif style == "rgb":
                write_image(root / "masks" / f"{s.id}.png", cm.colorize(mask))  # type: ignore[arg-type]
            else:
                stored = cm.decode(mask)  # type: ignore[arg-type]
                write_mask(root / "masks" / f"{s.id}{_mask_suffix(stored, arrays_only)}", stored)
        if s.load_instances is not None:
            inst = s.instances
            ids = inst[~inst.iscrowd].to_id_map()  # type: ignore[union-attr]
            write_mask(root / "instances" / f"{s.id}{_mask_suffix(ids, arrays_only)}", ids)

    return _write_common(dataset, root, cm, put_gt, arrays_only=arrays_only, desc=f"write {style} masks")


def write_instance_folder(dataset: Dataset, path: Path, *, overwrite: bool = False) -> Path:
    """Write ``images/`` and ``masks/`` as 16-bit instance-id maps (0 = background)."""
    root = prepare_output(path, overwrite=overwrite)
    cm = dataset.class_map
    dropped = 0

    def put_gt(s: Sample) -> None:
        nonlocal dropped
        if s.load_instances is not None:
            inst = s.instances
        elif s.load_mask is not None:
            inst = Instances.from_semantic(s.mask, ignore_index=cm.ignore_index)  # type: ignore[arg-type]
        else:
            return
        inst = inst[~inst.iscrowd]  # type: ignore[index]
        dropped += int((inst.labels != 1).sum())
        ids = inst.to_id_map(np.uint32)
        if ids.size and int(ids.max()) > 65535:
            raise DataError(
                f"sample {s.id}: {int(ids.max())} objects do not fit a 16-bit PNG; write --to coco instead"
            )
        # Always 16-bit, so the folder is recognised as instance-id maps when read back.
        write_image(root / "masks" / f"{s.id}.png", ids.astype(np.uint16))

    out = _write_common(dataset, root, cm, put_gt, arrays_only=False, desc="write instance maps")
    if dropped:
        import warnings

        warnings.warn(
            f"{dropped} objects have classes other than 1; instance-id maps do not store classes, "
            "write --to coco or --to mask-folder to keep them",
            stacklevel=2,
        )
    return out
