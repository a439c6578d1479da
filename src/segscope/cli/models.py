"""Deep-model commands: ``models list``, ``train``, ``predict``, ``export``.

torch, Lightning, MLflow and ONNX Runtime are imported inside the commands, never at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segscope.cli.catalog import WORKSPACE_HELP
from segscope.errors import ParameterError
from segscope.models.registry import parse_model_args

TTA_MODE_HELP = (
    "flip (the default with --tta: left-right and up-down flips), hflip (left-right only, for "
    "labels that know up from down), or d4 (the 8 flips and quarter turns); implies --tta."
)


def parse_image_shift(text: str | None) -> list[float] | None:
    """``--image-shift DY`` or ``DY,DX`` as ``[dy, dx]``; ``None`` when not given.

    >>> parse_image_shift("-0.6"), parse_image_shift("-0.6,0.2")
    ([-0.6, 0.0], [-0.6, 0.2])
    """
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise ParameterError(f"--image-shift '{text}' is not DY or DY,DX in pixels; e.g. --image-shift -0.6")
    return values + [0.0] * (2 - len(values))


def register(app: typer.Typer) -> None:
    """Add the deep-model commands to ``app``."""
    models_app = typer.Typer(help="Segmentation architectures (smp and torchvision).", no_args_is_help=True)
    app.add_typer(models_app, name="models")

    @models_app.command("list")
    def list_cmd(
        pattern: Annotated[str | None, typer.Argument(help="Shell wildcard, e.g. 'deeplab*'.")] = None,
        encoders: Annotated[bool, typer.Option("--encoders", help="List smp encoder names instead.")] = False,
    ) -> None:
        """List architectures (or smp encoders) matching PATTERN.

        Example: segscope models list 'deeplab*'   |   segscope models list 'resnet*' --encoders
        """
        from rich.console import Console
        from rich.table import Table

        from segscope.models import ARCHITECTURES, list_encoders, list_models

        console = Console()
        if encoders:
            for name in list_encoders(pattern):
                console.print(name)
            return
        table = Table()
        table.add_column("name", no_wrap=True)  # names are what users copy; never wrap them
        for column in ("task", "library", "description"):
            table.add_column(column)
        for name in list_models(pattern):
            spec = ARCHITECTURES.get(name)
            table.add_row(name, spec.task, spec.library, spec.description)
        console.print(table)

    @app.command("train")
    def train_cmd(
        dataset: Annotated[Path, typer.Argument(help="Training dataset (any format segscope reads).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Run folder to create.")],
        task: Annotated[
            str, typer.Option(help="semantic (label maps) or instance (Mask R-CNN, one mask per object).")
        ] = "semantic",
        model: Annotated[
            str | None,
            typer.Option(
                help="Architecture, see 'segscope models list' (default unet, or maskrcnn for --task instance)."
            ),
        ] = None,
        target: Annotated[
            str,
            typer.Option(
                help="Semantic target: mask, or fg-boundary (background/object/boundary from the instances, "
                "for 'segscope predict --task instance')."
            ),
        ] = "mask",
        encoder: Annotated[str | None, typer.Option(help="smp encoder (smp architectures).")] = "resnet18",
        weights: Annotated[str, typer.Option(help="none, imagenet, or a local state-dict file.")] = "none",
        model_arg: Annotated[list[str], typer.Option(help="Extra architecture option KEY=VALUE.")] = [],  # noqa: B006
        epochs: int = 20,
        batch_size: int = 8,
        lr: float = 1e-3,
        schedule: Annotated[str, typer.Option(help="cosine, step or none.")] = "cosine",
        loss: Annotated[str, typer.Option(help="ce, dice, ce+dice or focal.")] = "ce",
        class_weights: Annotated[str | None, typer.Option(help="Comma-separated, one per class.")] = None,
        val_split: Annotated[str | None, typer.Option(help="Split of DATASET used for validation.")] = None,
        val: Annotated[Path | None, typer.Option(help="Separate validation dataset.")] = None,
        val_fraction: float = 0.2,
        augment: Annotated[
            str, typer.Option(help="default, light, none, or an Albumentations YAML file.")
        ] = "default",
        crop: Annotated[int | None, typer.Option(help="Random square training crops of this size.")] = None,
        repeat: Annotated[
            int, typer.Option(help="Random crops of each sample per epoch (small datasets).")
        ] = 1,
        per_image: Annotated[
            str | None,
            typer.Option(
                help="Per-image normalisation stored with the model: grey-percentile (grey, stretched "
                "between the image's own percentiles, bright backgrounds inverted; mixed stains) or "
                "percentile (each channel stretched, never inverted; one modality, varying exposure)."
            ),
        ] = None,
        image_shift: Annotated[
            str | None,
            typer.Option(
                help="DY or DY,DX: move every image this many pixels down and right (negative: up, "
                "left; cubic spline) in training and, stored with the model, at prediction time; for "
                "masks drawn a fixed sub-pixel distance off their images (ISBI 2012: -0.6)."
            ),
        ] = None,
        boundary_width: Annotated[
            int, typer.Option(help="Boundary width in pixels of the fg-boundary target.")
        ] = 1,
        seed: int = 0,
        patience: Annotated[
            int | None, typer.Option(help="Early stopping after N epochs without progress.")
        ] = None,
        ema: Annotated[
            float | None,
            typer.Option(
                help="Exponential moving average of the weights with this decay (e.g. 0.99); "
                "validation, checkpoints and prediction use the averaged weights. The decay ramps up as "
                "min(DECAY, (1 + n) / (10 + n)) after n steps and reaches DECAY after "
                "(10 DECAY - 1) / (1 - DECAY) steps (0.99: 890, 0.998: 4490); a shorter run ends below it."
            ),
        ] = None,
        max_minutes: Annotated[
            float | None,
            typer.Option(
                help="Stop at the end of the first epoch past this many minutes (the schedule still spans --epochs)."
            ),
        ] = None,
        workers: int = 0,
        accelerator: Annotated[
            str, typer.Option(help="auto (a GPU when there is one), gpu or cpu.")
        ] = "auto",
        devices: Annotated[
            int | None,
            typer.Option(
                help="GPUs (or CPU processes) to train on; more than one uses DDP. Default: all GPUs, or 1."
            ),
        ] = None,
        precision: Annotated[
            str,
            typer.Option(
                help="auto (Mask R-CNN: 32; else 16-bit mixed on a GPU, bfloat16 mixed on a CPU with "
                "native bfloat16, else 32), 32, bf16 or 16."
            ),
        ] = "auto",
        resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoints/last.ckpt.")] = False,
        tracking_uri: Annotated[
            str | None, typer.Option(help="MLflow store (default OUT/../mlruns).")
        ] = None,
        no_mlflow: Annotated[bool, typer.Option("--no-mlflow", help="Do not log to MLflow.")] = False,
    ) -> None:
        """Train a segmentation model with Lightning; track it in MLflow.

        Example: segscope train shapes/ --model unet --encoder resnet18 --epochs 10 --out runs/unet
        Instances: segscope train shapes/ --task instance --model maskrcnn_resnet18_fpn --out runs/mrcnn
        Nuclei:    segscope train nuclei/ --target fg-boundary --boundary-width 2 --per-image grey-percentile
                   --class-weights 1,1,5 --out runs/fgb
        """
        from rich.console import Console

        from segscope.training import train

        result = train(
            dataset,
            out,
            val=val,
            resume=resume,
            task=task,
            target=target,
            model=model or ("maskrcnn" if task == "instance" else "unet"),
            encoder=None if task == "instance" else encoder,
            weights=None if weights.lower() == "none" else weights,
            model_kwargs=parse_model_args(model_arg),
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            schedule=schedule,
            loss=loss,
            class_weights=[float(v) for v in class_weights.split(",")] if class_weights else None,
            val_split=val_split,
            val_fraction=val_fraction,
            augment=augment,
            crop=crop,
            repeat=repeat,
            per_image=per_image,
            image_shift=parse_image_shift(image_shift),
            boundary_width=boundary_width,
            seed=seed,
            patience=patience,
            ema=ema,
            max_minutes=max_minutes,
            num_workers=workers,
            accelerator=accelerator,
            devices=devices,
            precision=precision,
            tracking_uri=tracking_uri,
            mlflow=not no_mlflow,
        )
        score = "mIoU" if result.monitor == "val_miou" else "mask AP"
        Console().print(
            f"trained {result.epochs_run} epochs; best val {score} {result.best_val_miou:.4f}; "
            f"best checkpoint {result.best_checkpoint}"
            + (f"; MLflow run {result.mlflow_run_id}" if result.mlflow_run_id else "")
        )

    @app.command("predict")
    def predict_cmd(
        model: Annotated[Path, typer.Argument(help="Run folder, checkpoint, or .onnx file.")],
        data: Annotated[Path, typer.Argument(help="Dataset or image folder to segment.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Prediction folder to write.")],
        backend: Annotated[str | None, typer.Option(help="torch or onnx (default: by file type).")] = None,
        tile: Annotated[
            int | None, typer.Option(help="Sliding-window tile size (default: whole image).")
        ] = None,
        overlap: int = 64,
        batch_size: int = 4,
        tta: Annotated[
            bool, typer.Option("--tta", help="Average with flipped inputs (see --tta-mode).")
        ] = False,
        tta_mode: Annotated[str | None, typer.Option(help=TTA_MODE_HELP)] = None,
        tta_vflip_shift: Annotated[
            int,
            typer.Option(
                help="With --tta-mode flip: move the up-down flipped view this many rows once mapped "
                "back (negative: up), for a model trained with VerticalFlipKeepOffset(mask_shift=N)."
            ),
        ] = 0,
        probs_dtype: Annotated[str, typer.Option(help="float32 or float16.")] = "float32",
        no_probs: Annotated[bool, typer.Option("--no-probs", help="Do not save probabilities.")] = False,
        no_overlays: Annotated[bool, typer.Option("--no-overlays", help="Do not save overlays.")] = False,
        overwrite: bool = False,
        threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
        device: Annotated[
            str,
            typer.Option(help="auto (a CUDA GPU when torch sees one), cpu, cuda or cuda:N (torch backend)."),
        ] = "auto",
        task: Annotated[
            str | None,
            typer.Option(
                help="instance: objects (Mask R-CNN, or watershed on a semantic model's foreground); "
                "default: the model's own task."
            ),
        ] = None,
        param: Annotated[
            list[str],
            typer.Option(
                "--param",
                "-p",
                help="Instance option KEY=VALUE: fg_threshold, marker_threshold, min_size, min_distance "
                "(semantic models), score_threshold, mask_threshold (Mask R-CNN).",
            ),
        ] = [],  # noqa: B006
        split: Annotated[
            str | None, typer.Option(help="Predict only this split of DATA (e.g. test).")
        ] = None,
        into: Annotated[
            str | None,
            typer.Option(
                help="Attach the output to this workspace dataset as a prediction run (see segscope add)."
            ),
        ] = None,
        run_key: Annotated[
            str | None, typer.Option("--key", help="Run key with --into (default: the --out folder name).")
        ] = None,
        workspace: Annotated[
            Path | None,
            typer.Option(
                "--workspace",
                "-w",
                help=WORKSPACE_HELP,
            ),
        ] = None,
    ) -> None:
        """Segment a dataset with a trained model; write masks, probs, overlays and run.json.

        Example: segscope predict runs/unet images/ --out preds/ --tile 512 --overlap 64 --backend onnx
        Instances (instances.json): segscope predict runs/fgb nuclei/ --task instance -p min_size=10 --out preds/
        """
        from rich.console import Console

        from segscope.inference import predict_dataset
        from segscope.inference.predictor import check_vflip_shift, resolve_tta
        from segscope.instance import load_predictor
        from segscope.training import open_dataset

        tta_value = resolve_tta(tta_mode or tta) or False  # a wrong mode fails before the model loads
        check_vflip_shift(tta_value or None, tta_vflip_shift)
        predictor = load_predictor(
            model,
            task=task,
            backend=backend,
            threads=threads,
            device=device,
            **parse_model_args(param, option="--param", example="min_size=20"),
        )
        dataset = open_dataset(data)
        n = predict_dataset(
            predictor,
            dataset.split(split) if split else dataset,
            out,
            tile=tile,
            overlap=overlap,
            batch_size=batch_size,
            tta=tta_value,
            vflip_shift=tta_vflip_shift,
            save_probs=not no_probs,
            probs_dtype=probs_dtype,
            overlays=not no_overlays,
            overwrite=overwrite,
            model_path=str(model),
        )
        on = predictor.info.get("device", "cpu")  # ONNX runs on the CPU
        Console().print(f"predicted {n} images with {predictor.backend} on {on} -> {out}")
        if into:
            from segscope.catalog import Catalog

            cat = Catalog(workspace)
            run = cat.add_predictions(into, out, key=run_key or Path(out).name, overwrite=overwrite)
            Console().print(f"attached as run '{run['key']}' of workspace dataset '{into}' ({cat.path})")

    @app.command("export")
    def export_cmd(
        model: Annotated[Path, typer.Argument(help="Run folder or checkpoint.")],
        format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="Output file (default RUN_DIR/model.onnx).")
        ] = None,
        opset: int = 17,
    ) -> None:
        """Export a trained model to ONNX (dynamic batch and size), checked against torch.

        Example: segscope export runs/unet --format onnx
        """
        from rich.console import Console

        from segscope.inference.export import EXPORT_FORMATS, export_onnx

        if format.lower() not in EXPORT_FORMATS:
            raise ParameterError(f"unknown export format '{format}'; use one of {', '.join(EXPORT_FORMATS)}")
        report = export_onnx(model, out, opset=opset)
        Console().print(
            f"wrote {report.path}; max |probs(onnx) - probs(torch)| = {report.max_abs_diff:.2e} "
            f"on input {report.input_shape}"
        )
