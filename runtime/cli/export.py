"""``layerloom-cli export``: ONNX (verified), int8 quantization, standalone PyTorch source and a
``torchrun`` training script, from a graph file and/or a checkpoint.

Exit status: 0 every export verified, 1 an export failed or did not verify, 2 a file cannot be read.
"""

from __future__ import annotations

import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2


def add_parsers(sub) -> None:
    from layerloom.export.defaults import DEFAULT_OPSET, DEFAULT_TOLERANCE

    export = sub.add_parser(
        "export", help="export a graph (trained or not) to ONNX, PyTorch source or a torchrun script",
        description="Export the model part of a graph. Every ONNX export is checked (onnx.checker) and run in "
                    "onnxruntime against PyTorch on random and dataset inputs; the report gives the largest "
                    "difference, the file size and the latency. Exit 1 when an export fails or does not verify.")
    export.add_argument("file", help="a graph file (.llgraph.json), or a checkpoint (.pt) / run folder")
    export.add_argument("--checkpoint", metavar="CKPT", help="trained weights: a checkpoint file or run folder")
    export.add_argument("--onnx", metavar="OUT.onnx", help="write an ONNX model")
    export.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    export.add_argument("--scaled-inputs", action="store_true",
                        help="the ONNX model takes inputs already scaled (the scaling stays in its metadata only); "
                             "by default it takes raw samples and applies the training's scaling itself")
    export.add_argument("--exporter", choices=("auto", "torchscript", "dynamo"), default="auto",
                        help="auto (default): the TorchScript-based exporter when its file verifies, else dynamo")
    export.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help=f"largest accepted difference from PyTorch (default {DEFAULT_TOLERANCE:g})")
    export.add_argument("--quantize", choices=("dynamic", "static"),
                        help="also write an int8 copy of the ONNX file (OUT.int8.onnx) and report the accuracy change")
    export.add_argument("--python", metavar="OUT.py",
                        help="write a standalone PyTorch model file (and its weights, OUT.pt)")
    export.add_argument("--ddp-script", metavar="OUT_DIR",
                        help="write a folder that trains the graph with torchrun (DistributedDataParallel)")
    export.set_defaults(run=cmd_export)


def cmd_export(args) -> int:
    from layerloom.core.errors import GraphFileError, LayerLoomError
    from layerloom.export import load_exportable

    if args.quantize and not args.onnx:
        print("error: --quantize needs --onnx OUT.onnx (it quantizes that file)", file=sys.stderr)
        return EXIT_FAILED
    if not (args.onnx or args.python or args.ddp_script):
        print("error: nothing to export: give --onnx OUT.onnx, --python OUT.py and/or --ddp-script DIR",
              file=sys.stderr)
        return EXIT_FAILED
    try:
        exportable = load_exportable(args.file, args.checkpoint)
    except GraphFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except LayerLoomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if exportable.trained:
        source = "trained weights from " + exportable.run["checkpoint"]
    else:   # an imported model's weights (training.weights) when the graph names them, else its initialisation
        from layerloom.export.jobs import load_start_weights

        base_dir = Path(args.file).resolve().parent if Path(args.file).suffix == ".json" else None
        try:
            imported = load_start_weights(exportable, base_dir)
        except LayerLoomError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        source = imported[0].lower() + imported[1:] if imported else "untrained weights"
    print(f'exporting "{exportable.name}" ({source})')
    status = EXIT_OK
    if args.onnx:
        status = max(status, _onnx(args, exportable))
    if args.python:
        status = max(status, _python(args, exportable))
    if args.ddp_script:
        status = max(status, _ddp(args, exportable))
    return status


def _ddp(args, exportable) -> int:
    from layerloom.core.errors import LayerLoomError
    from layerloom.export.ddp import export_ddp

    base_dir = Path(args.file).resolve().parent if Path(args.file).suffix == ".json" else None
    try:
        script = export_ddp(exportable, args.ddp_script, base_dir)
    except LayerLoomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{script.parent}: torchrun training folder written; run it with\n"
          f"  cd {script.parent} && torchrun --nproc_per_node=N {script.name}")
    return EXIT_OK


def _onnx(args, exportable) -> int:
    from layerloom.core.errors import LayerLoomError
    from layerloom.export import app_predictor, dataset_samples, export_and_verify
    from layerloom.export.onnx_export import EXPORTER_NAMES

    base_dir = Path(args.file).resolve().parent if Path(args.file).suffix == ".json" else None
    predictor, predictor_note = app_predictor(exportable, base_dir)
    samples, note = dataset_samples(exportable, base_dir=base_dir)
    try:
        shipped = export_and_verify(exportable, args.onnx, args.opset, raw_inputs=not args.scaled_inputs,
                                    exporter=args.exporter, samples=samples, predictor=predictor,
                                    tolerance=args.tolerance)
    except LayerLoomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    report, path = shipped.report, shipped.path
    print(report.describe())
    print(f"  made by {EXPORTER_NAMES[shipped.exporter]}")
    for text in shipped.notes:
        print(f"  note: {text}")
    if samples is None:
        print(f"  note: {note}; verified on random inputs only")
    elif predictor is None:
        print(f"  note: {predictor_note}")
    if not report.ok:
        return EXIT_FAILED
    if args.quantize:
        return _quantize(args, exportable, path, base_dir)
    return EXIT_OK


def _quantize(args, exportable, path: Path, base_dir) -> int:
    import onnx

    from layerloom.core.errors import LayerLoomError
    from layerloom.export.quantize import quantize_and_report

    target = path.with_name(path.name[:-len(".onnx")] + ".int8.onnx" if path.name.endswith(".onnx")
                            else path.name + ".int8.onnx")
    try:
        report = quantize_and_report(exportable, path, target, args.quantize, base_dir)
        onnx.checker.check_model(str(target), full_check=True)
    except LayerLoomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - the checker refused the quantized file
        print(f"error: {target}: the quantized model does not pass onnx.checker: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(report.describe())
    return EXIT_OK


def _python(args, exportable) -> int:
    from layerloom.core.errors import LayerLoomError
    from layerloom.export.pysource import export_python, verify_python

    try:
        path, weights = export_python(exportable, args.python)
        diff = verify_python(path, exportable)
    except LayerLoomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - the generated file failed to run: a bug worth reporting
        print(f"error: {args.python}: the generated source does not run: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return EXIT_FAILED
    ok = diff <= args.tolerance
    print(f"{path}: PyTorch source {'verified' if ok else 'FAILED'}: max |generated - compiled| = {diff:.2e}; "
          f"weights in {weights.name}")
    return EXIT_OK if ok else EXIT_FAILED
