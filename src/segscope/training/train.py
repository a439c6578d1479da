"""``train``: fit a segmentation model on a segscope dataset with Lightning, tracked in MLflow.

A run folder holds everything needed without MLflow::

    RUN_DIR/config.yaml             the TrainConfig, model config, preprocessing, classes
    RUN_DIR/classes.yaml            ClassMap.save
    RUN_DIR/metrics.csv             one row per epoch
    RUN_DIR/checkpoints/best.ckpt   best val mIoU
    RUN_DIR/checkpoints/last.ckpt   end of the latest epoch (what --resume continues from)
    RUN_DIR/overlays/<id>.png       a few validation predictions
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import logging
import math
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segscope.core.classes import ClassMap
from segscope.core.dataset import Dataset
from segscope.errors import DataError, ParameterError
from segscope.utils.files import atomic_path, write_text

__all__ = ["TrainConfig", "TrainResult", "train", "open_dataset", "default_tracking_uri"]


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as ``config.yaml``)."""

    task: str = "semantic"
    model: str = "unet"
    encoder: str | None = "resnet18"
    weights: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    loss: str = "ce"
    class_weights: list[float] | None = None
    val_split: str | None = None
    val_fraction: float = 0.2
    augment: str = "default"
    crop: int | None = None
    repeat: int = 1
    seed: int = 0
    patience: int | None = None
    #: Keep an exponential moving average of the weights with this decay (e.g. 0.99; ``None``:
    #: off). Validation, ``best.ckpt``, ``last.ckpt`` and so prediction use the averaged weights;
    #: the raw ones stay in each checkpoint for ``--resume``. The decay ramps up as
    #: ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so short runs forget their start; it
    #: reaches ``decay`` after ``(10 decay - 1) / (1 - decay)`` updates (0.99: 890, 0.998: 4490), so
    #: in a run with fewer the ramp alone sets the window.
    ema: float | None = None
    #: Stop at the end of the first epoch that ends after this many minutes of training (a
    #: resumed run counts the time before the interruption); the schedule still spans ``epochs``.
    max_minutes: float | None = None
    num_workers: int = 0
    mean: list[float] | None = None
    std: list[float] | None = None
    per_image: str | None = None
    #: ``[dy, dx]`` pixels every image is moved (down, right) before anything else, in training
    #: and, saved with the model, at prediction time: for masks drawn a fixed sub-pixel distance
    #: off their images (ISBI 2012: ``[-0.6, 0]``). ``None``: no move.
    image_shift: list[float] | None = None
    accelerator: str = "auto"
    #: Devices (GPUs, or CPU processes); more than one trains with Lightning's DDP. ``None``:
    #: every visible GPU, or one CPU process.
    devices: int | None = None
    #: ``auto``: float32 for Mask R-CNN; else 16-bit mixed precision on a GPU, bfloat16 mixed
    #: precision on a CPU with native bfloat16 (AVX512-BF16 or AMX; with channels-last 2.6x faster
    #: than float32 on this project's CPU: benchmarks/training_step.py), else 32-bit; or ``32``,
    #: ``bf16``, ``16``.
    precision: str = "auto"
    #: Semantic models train in channels-last memory layout (faster convolutions on CPU and GPU).
    channels_last: bool = True
    mlflow: bool = True
    tracking_uri: str | None = None
    experiment: str = "segscope"
    overlays: int = 4
    target: str = "mask"
    #: Boundary thickness in pixels of ``fg-boundary`` targets.
    boundary_width: int = 1


@dataclass
class TrainResult:
    run_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    best_val_miou: float
    epochs_run: int
    history: list[dict[str, float]]
    mlflow_run_id: str | None = None
    #: The monitored validation score in ``best_val_miou``: ``val_miou``, or ``val_ap`` for instance runs.
    monitor: str = "val_miou"


def open_dataset(path: str | os.PathLike[str] | Dataset) -> Dataset:
    """A :class:`Dataset` as is, or the one :func:`segscope.formats.load_dataset` reads at ``path``."""
    if isinstance(path, Dataset):
        return path
    from segscope.formats import load_dataset

    return load_dataset(path)


def default_tracking_uri(run_dir: Path) -> str:
    """``sqlite:///RUN_DIR/../mlruns/mlflow.db``: one local store for sibling runs.

    MLflow 3 refuses its old file store by default, so the local store is SQLite, with
    artifacts beside it in ``mlruns/artifacts``.
    """
    folder = run_dir.resolve().parent / "mlruns"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def _split(dataset: Dataset, val: Dataset | None, cfg: TrainConfig) -> tuple[Dataset, Dataset]:
    if val is not None:
        train = dataset.split("train") if "train" in dataset.splits else dataset
        return train, val
    if cfg.val_split is not None:
        train = dataset.split("train") if "train" in dataset.splits else None
        val_set = dataset.split(cfg.val_split)
        if train is None:
            ids = set(val_set.ids)
            train = dataset._subset([s for s in dataset if s.id not in ids])
        return train, val_set
    if "train" in dataset.splits and "val" in dataset.splits:
        return dataset.split("train"), dataset.split("val")
    if not 0 < cfg.val_fraction < 1:
        raise ParameterError(f"val_fraction {cfg.val_fraction} must be in (0, 1); or give --val-split/--val")
    n = len(dataset)
    n_val = max(1, int(round(cfg.val_fraction * n)))
    if n - n_val < 1:
        raise DataError(f"{dataset.root or 'dataset'}: {n} samples are too few to hold out a validation set")
    order = np.random.default_rng(cfg.seed).permutation(n)
    val_idx = set(order[:n_val].tolist())
    samples = list(dataset)
    return (
        dataset._subset([s for i, s in enumerate(samples) if i not in val_idx]),
        dataset._subset([s for i, s in enumerate(samples) if i in val_idx]),
    )


class _MetricsCSV:
    """Lightning callback writing ``metrics.csv`` (one row per epoch), atomically, resume-safe."""

    FIELDS = ("epoch", "train_loss", "val_loss", "val_miou", "val_pixel_accuracy", "lr", "seconds")
    INSTANCE_FIELDS = ("epoch", "train_loss", "val_ap", "val_ap50", "lr", "seconds")

    def __new__(cls, path: Path, fields: tuple[str, ...] = FIELDS) -> Any:
        import lightning as L

        class Callback(L.Callback):
            def __init__(self) -> None:
                self.path = path
                self.t0 = time.time()
                self.rows: list[dict[str, float]] = []

            def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
                self.t0 = time.time()

            def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
                if trainer.sanity_checking or not trainer.is_global_zero:
                    return
                m = trainer.callback_metrics
                row = {"epoch": trainer.current_epoch}
                for key in ("train_loss_epoch", *fields[2:-2]):
                    if key in m:
                        row[key.replace("_epoch", "")] = round(float(m[key]), 6)
                row["lr"] = trainer.optimizers[0].param_groups[0]["lr"]
                row["seconds"] = round(time.time() - self.t0, 2)
                old = []
                if self.path.is_file():
                    with self.path.open(newline="") as f:
                        old = [r for r in csv.DictReader(f) if int(r["epoch"]) < row["epoch"]]
                buf = io.StringIO()
                writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
                writer.writeheader()
                writer.writerows([*old, row])
                write_text(self.path, buf.getvalue())
                self.rows = [*old, row]

        return Callback()


def _atomic_checkpoint_io() -> Any:
    import torch
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        # A kill -9 during a save must leave the previous last.ckpt intact for --resume.
        def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
            with atomic_path(path) as tmp:
                torch.save(checkpoint, tmp)

    return AtomicCheckpointIO()


def train(
    dataset: str | os.PathLike[str] | Dataset,
    out: str | os.PathLike[str],
    *,
    config: TrainConfig | None = None,
    val: str | os.PathLike[str] | Dataset | None = None,
    resume: bool = False,
    progress_bar: bool | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train a model on ``dataset``; write the run folder ``out``.

    Parameters
    ----------
    dataset : path or Dataset
        Training data (its ``train`` split when it has one).
    out : path
        Run folder (created).
    config : TrainConfig, optional
        Defaults; keyword ``overrides`` replace single fields (``epochs=5, model="fpn"``).
    val : path or Dataset, optional
        Separate validation dataset; else ``config.val_split``, the ``val`` split, or a
        seeded ``val_fraction`` of the samples.
    resume : bool
        Continue from ``out/checkpoints/last.ckpt`` (also after the process was killed).

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> result = train("shapes/", "runs/unet", epochs=5, model="unet", encoder="resnet18")  # doctest: +SKIP
    >>> result.best_val_miou  # doctest: +SKIP
    0.83
    """
    import lightning as L
    import torch
    import yaml
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, Timer

    cfg = TrainConfig(**asdict(config)) if config is not None else TrainConfig()
    for key, value in overrides.items():
        if not hasattr(cfg, key):
            raise ParameterError(f"unknown training option '{key}'; valid: {', '.join(asdict(cfg))}")
        setattr(cfg, key, value)
    if cfg.max_minutes is not None and not cfg.max_minutes > 0:
        raise ParameterError(f"max_minutes {cfg.max_minutes} must be > 0 (or None for no time limit)")
    if cfg.ema is not None and not 0 < cfg.ema < 1:
        raise ParameterError(f"ema {cfg.ema} must be a decay in (0, 1), e.g. 0.99 (or None for no averaging)")
    if cfg.devices is not None and cfg.devices < 1:
        raise ParameterError(f"devices {cfg.devices} must be >= 1 (GPUs, or CPU processes)")
    run_dir = Path(out)
    ckpt_dir = run_dir / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    if resume and not last.is_file():
        raise ParameterError(
            f"{run_dir}: nothing to resume (no checkpoints/last.ckpt); drop --resume to start"
        )
    if not resume and last.is_file():
        raise ParameterError(
            f"{run_dir}: already holds a run; pass --resume to continue it or choose another --out"
        )
    if resume and (run_dir / "config.yaml").is_file():
        saved = yaml.safe_load((run_dir / "config.yaml").read_text())["train"]
        saved.update(
            {k: v for k, v in overrides.items() if k in ("epochs", "max_minutes", "mlflow", "tracking_uri")}
        )
        cfg = TrainConfig(**saved)

    from segscope.models.registry import ARCHITECTURES

    instance = cfg.task == "instance"
    if cfg.task not in ("semantic", "instance"):
        raise ParameterError(f"unknown task '{cfg.task}'; use semantic or instance")
    arch_task = ARCHITECTURES.get(cfg.model).task
    if arch_task != cfg.task:
        raise ParameterError(
            f"model '{cfg.model}' is for the {arch_task} task but the task is {cfg.task}; "
            f"pass --task {arch_task} or pick a model from 'segscope models list'"
        )
    if instance and cfg.target != "mask":
        raise ParameterError(
            f"--target {cfg.target} is for semantic models; Mask R-CNN learns instances directly"
        )

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    data = open_dataset(dataset)
    val_data = open_dataset(val) if val is not None else None
    if cfg.target != "mask":
        from segscope.instance.targets import target_dataset

        data = target_dataset(data, cfg.target, width=cfg.boundary_width)
        val_data = (
            target_dataset(val_data, cfg.target, width=cfg.boundary_width) if val_data is not None else None
        )
    train_set, val_set = _split(data, val_data, cfg)
    class_map: ClassMap = data.class_map
    if instance:
        from segscope.instance.training import instance_parts

        mconf, pre, task, dm = instance_parts(train_set, val_set, cfg, resume=resume)
    else:
        mconf, pre, task, dm = _semantic_parts(train_set, val_set, cfg, resume=resume)
    monitor = "val_ap" if instance else "val_miou"

    run_dir.mkdir(parents=True, exist_ok=True)
    class_map.save(run_dir / "classes.yaml")
    record = {
        "train": asdict(cfg),
        "dataset": str(getattr(data, "root", None) or ""),
        "val_dataset": str(getattr(val_data, "root", "") or "") if val_data is not None else None,
        "num_train": len(train_set),
        "num_val": len(val_set),
        "model_config": mconf,
        "preprocessing": pre.to_dict(),
    }
    write_text(run_dir / "config.yaml", yaml.safe_dump(record, sort_keys=False))

    logger: Any = False
    run_id = None
    if cfg.mlflow:
        from lightning.pytorch.loggers import MLFlowLogger

        uri = cfg.tracking_uri or default_tracking_uri(run_dir)
        run_id_file = run_dir / "mlflow_run_id.txt"
        prev = run_id_file.read_text().strip() if resume and run_id_file.is_file() else None
        artifacts = None
        if uri.startswith("sqlite:///"):
            artifacts = (Path(uri[len("sqlite:///") :]).parent / "artifacts").as_uri()
        logger = MLFlowLogger(
            experiment_name=cfg.experiment,
            tracking_uri=uri,
            run_name=run_dir.name,
            # A resumed run may change hyper-parameters (epochs), which MLflow refuses to
            # overwrite, so it gets its own MLflow run that points back to the first one.
            tags={"resumed_from": prev} if prev else None,
            artifact_location=artifacts,
        )
        run_id = logger.run_id  # None in the other processes of a multi-device run
        if run_id:
            write_text(run_id_file, run_id + "\n")

    if cfg.accelerator not in ("auto", "gpu", "cuda", "cpu"):
        raise ParameterError(f"unknown accelerator '{cfg.accelerator}'; use auto, gpu or cpu")
    if cfg.accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ParameterError("--accelerator gpu but torch sees no CUDA GPU; use --accelerator cpu (or auto)")
    use_gpu = torch.cuda.is_available() and cfg.accelerator in ("auto", "gpu", "cuda")
    devices = cfg.devices or (torch.cuda.device_count() if use_gpu else 1)
    precision = _precision(cfg.precision, use_gpu=use_gpu, instance=instance)
    best_cb = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor=monitor,
        mode="max",
        save_top_k=1,
        enable_version_counter=False,
    )
    # Not ``save_last=True`` on best_cb: Lightning 2.x writes that copy only in epochs that
    # improve the best score, so --resume would go back to the best epoch. This one saves every
    # epoch and runs after best_cb, so last.ckpt carries the updated best score for --resume.
    last_cb = ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, enable_version_counter=False)
    metrics_cb = _MetricsCSV(
        run_dir / "metrics.csv", _MetricsCSV.INSTANCE_FIELDS if instance else _MetricsCSV.FIELDS
    )
    callbacks: list[Any] = [best_cb, last_cb, metrics_cb]
    if cfg.ema is not None:
        callbacks.append(_ema_callback(cfg.ema))
    if cfg.patience:
        callbacks.append(EarlyStopping(monitor=monitor, mode="max", patience=cfg.patience))
    if cfg.max_minutes:
        # Checked at each epoch's end, so the last epoch is validated and checkpointed in full.
        callbacks.append(Timer(duration=datetime.timedelta(minutes=cfg.max_minutes), interval="epoch"))
    show_bar = progress_bar if progress_bar is not None else os.environ.get("SEGSCOPE_PROGRESS", "1") != "0"
    # Without a progress bar (API loops, benchmarks, CI) Lightning's info lines go too, except in
    # a multi-process run, whose start-up lines (backend, processes registered) help when one hangs.
    with _lightning_info(show_bar or devices > 1):
        trainer = L.Trainer(
            max_epochs=cfg.epochs,
            accelerator="gpu" if use_gpu else "cpu",
            devices=devices,
            strategy="ddp" if devices > 1 else "auto",
            precision=precision,
            deterministic="warn",
            logger=logger,
            callbacks=callbacks,
            plugins=[_atomic_checkpoint_io()],
            enable_progress_bar=show_bar,
            enable_model_summary=False,
            log_every_n_steps=1,
            default_root_dir=str(run_dir),
            num_sanity_val_steps=0,
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*does not have many workers.*")
            warnings.filterwarnings("ignore", ".*Checkpoint directory.*exists and is not empty.*")
            warnings.filterwarnings(
                "ignore", ".*number of training batches.*smaller than the logging interval.*"
            )
            warnings.filterwarnings("ignore", ".*isinstance\\(treespec, LeafSpec\\)` is deprecated.*")
            trainer.fit(task, datamodule=dm, ckpt_path=str(last) if resume else None)

    best = Path(best_cb.best_model_path) if best_cb.best_model_path else last
    best_score = float(best_cb.best_model_score) if best_cb.best_model_score is not None else math.nan
    history = metrics_cb.rows or _read_history(run_dir / "metrics.csv")
    if trainer.is_global_zero:
        if instance:
            from segscope.instance.training import write_instance_overlays as write_overlays
        else:
            write_overlays = _write_overlays
        overlay_files = write_overlays(best, val_set, run_dir / "overlays", cfg.overlays)
        if cfg.mlflow and logger:
            client = logger.experiment
            for path in (run_dir / "config.yaml", run_dir / "metrics.csv", run_dir / "classes.yaml", best):
                client.log_artifact(run_id, str(path))
            for path in overlay_files:
                client.log_artifact(run_id, str(path), artifact_path="overlays")
            logger.finalize("success")
    return TrainResult(
        run_dir=run_dir,
        best_checkpoint=best,
        last_checkpoint=last,
        best_val_miou=best_score,
        epochs_run=trainer.current_epoch,
        history=history,
        mlflow_run_id=run_id,
        monitor=monitor,
    )


def _ema_callback(decay: float) -> Any:
    """Lightning's ``WeightAveraging`` keeping an exponential moving average of every weight and buffer.

    The decay ramps up with the number of updates ``n`` as ``min(decay, (1 + n) / (10 + n))``
    (TensorFlow's ``ExponentialMovingAverage(num_updates=...)``): a plain EMA of a run with a few
    hundred steps would still hold much of its random initialisation at the end.
    """
    import torch
    from lightning.pytorch.callbacks import WeightAveraging

    @torch.no_grad()
    def average(averaged: list[Any], current: list[Any], num_averaged: Any) -> None:
        # One list per device and dtype (AveragedModel groups them). averaged + (current - averaged) * w
        # in three passes over the whole list, not four operations and three new tensors per tensor
        # (the ISBI U-Net/ResNet-34 on 2 CPU cores: 24 ms a step against 31 ms). The same arithmetic,
        # so the same bits. The weight stays a tensor: float() would wait for a GPU at every step.
        n = num_averaged.float()
        weight = 1.0 - ((1.0 + n) / (10.0 + n)).clamp(max=decay)
        if not averaged[0].is_floating_point():  # BatchNorm's num_batches_tracked
            for a, c in zip(averaged, current, strict=True):
                a.copy_(a + (c - a) * weight)
            return
        steps = torch._foreach_sub(current, averaged)
        torch._foreach_mul_(steps, weight.to(averaged[0].dtype))
        torch._foreach_add_(averaged, steps)

    return WeightAveraging(multi_avg_fn=average)


@contextlib.contextmanager
def _lightning_info(show: bool) -> Iterator[None]:
    """Lightning's info lines (devices, precision, tips, "fit stopped") only where ``show``."""
    log = logging.getLogger("lightning.pytorch")
    level = log.level
    if not show:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


PRECISIONS = {"32": "32-true", "bf16": "bf16-mixed", "16": "16-mixed"}


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX, through oneDNN)."""
    import torch

    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _precision(value: str, *, use_gpu: bool, instance: bool) -> str:
    """Lightning's precision name for ``--precision`` (auto, 32, bf16 or 16)."""
    name = {"32-true": "32", "bf16-mixed": "bf16", "16-mixed": "16"}.get(value, value)
    if name == "auto":
        if instance:
            # Mask R-CNN trains in float32, as torchvision's detection references and detectron2 do by
            # default (mixed precision is their opt-in flag); on a CPU its ops are not all autocast-ready.
            return "32-true"
        if use_gpu:
            return "16-mixed"
        # bfloat16 on a CPU without native support is emulated and slower than float32.
        return "bf16-mixed" if native_bf16() else "32-true"
    if name not in PRECISIONS:
        raise ParameterError(f"unknown precision '{value}'; use auto, 32, bf16 or 16")
    if name == "16" and not use_gpu:
        raise ParameterError("--precision 16 needs a GPU; on a CPU use bf16 or 32")
    return PRECISIONS[name]


def _semantic_parts(
    train_set: Dataset, val_set: Dataset, cfg: TrainConfig, *, resume: bool
) -> tuple[Any, ...]:
    """Model config, preprocessing, Lightning module and data module of a semantic run."""
    from segscope.models.preprocessing import Preprocessing
    from segscope.models.registry import model_config
    from segscope.training.augment import check_augmentation, make_augmentation
    from segscope.training.data import SegmentationDataModule, SegmentationDataset
    from segscope.training.module import SegmentationTask

    class_map = train_set.class_map
    first = train_set[0].image
    in_channels = 1 if first.ndim == 2 or cfg.per_image == "grey-percentile" else int(first.shape[2])
    mkw = dict(cfg.model_kwargs)
    mconf = model_config(
        cfg.model, encoder=cfg.encoder, in_channels=in_channels, num_classes=class_map.num_classes, **mkw
    )
    pre = Preprocessing.from_images(
        (s.image for s in train_set),
        in_channels=in_channels,
        mean=cfg.mean,
        std=cfg.std,
        class_map=class_map.to_dict(),
        per_image=cfg.per_image,
        image_shift=cfg.image_shift,
    )
    transform = make_augmentation(cfg.augment, crop=cfg.crop, ignore_index=class_map.ignore_index)
    train_ds = SegmentationDataset(train_set, pre, transform=transform, repeat=cfg.repeat)
    val_ds = SegmentationDataset(val_set, pre)
    check_augmentation(
        transform,
        [train_ds.raw(i) for i in range(min(8, len(train_set)))],
        num_classes=class_map.num_classes,
        ignore_index=class_map.ignore_index,
        seed=cfg.seed,
    )

    task = SegmentationTask(
        mconf,
        pre.to_dict(),
        loss=cfg.loss,
        class_weights=cfg.class_weights,
        ignore_index=class_map.ignore_index,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        schedule=cfg.schedule,
        epochs=cfg.epochs,
        weights=None if resume else cfg.weights,
        channels_last=cfg.channels_last,
    )
    dm = SegmentationDataModule(
        train_ds,
        val_ds,
        batch_size=cfg.batch_size,
        num_workers=cfg.num_workers,
        divisor=task.net.divisor,
        seed=cfg.seed,
    )
    return mconf, pre, task, dm


def _read_history(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]


def _write_overlays(checkpoint: Path, val_set: Dataset, folder: Path, n: int) -> list[Path]:
    """Predict ``n`` validation samples with the best model; save image+mask overlays."""
    if n <= 0 or not checkpoint.is_file():
        return []
    from segscope.core.image import overlay
    from segscope.formats.files import write_image
    from segscope.inference.predictor import Predictor

    predictor = Predictor.load(checkpoint)
    cmap = val_set.class_map
    written = []
    for sample in list(val_set)[:n]:
        image = sample.image
        pred = predictor.predict(image)
        layer = cmap.colorize(pred.mask)
        path = folder / f"{sample.id}.png"
        write_image(path, overlay(image, layer, alpha=0.45))
        written.append(path)
    return written
