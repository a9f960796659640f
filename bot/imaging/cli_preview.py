"""``sampark preview``: previews of DICOM files, photos, PDFs, study zips and folders.

Usage: ``sampark preview INPUT… --out DIR [--max-side N] [--format jpeg|webp|png]
[--watermark TEXT] [--json]``.

INPUT may be a DICOM file, a photo (JPEG/PNG/WebP), a PDF, a zip of a study (e.g. a CD export
with DICOMDIR) or a folder of DICOM files. Every input is decoded in an isolated worker process
with a time and a memory limit (:mod:`bot.imaging.worker`), so a file that hangs or crashes a
decoder fails alone. For each input the command writes an HD preview (long side ``--max-side``,
default 1280), a low-bandwidth one (half that, at most 640) and, for multi-frame images and
series, a contact sheet; with ``--json`` it prints one JSON object per input::

    {"input": ..., "ok": true, "kind": "dicom", "outputs": [...], "width": ..., "height": ...,
     "bytes": ..., "frames": ..., "modality": ..., "photometric": ..., "window": [c, w]}
    {"input": ..., "ok": false, "error": "corrupt", "message": "...", "outputs": [], ...}

Exit status 0 when every input succeeded, 1 when any failed, 2 on a usage error. Never a
traceback: unexpected failures are reported as ``crashed``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.imaging.errors import ImagingError, Reason
from bot.imaging.preview import LOW, Format, Preview, make_previews
from bot.imaging.watermark import Watermark

__all__ = ["Options", "Output", "Result", "main", "preview_input"]

#: Inputs larger than this are refused before reading (zips have their own limits).
MAX_INPUT_BYTES = 1024 * 1024 * 1024
WORKER_PRELOAD = ("numpy", "PIL.Image", "pydicom", "bot.imaging.cli_preview")


@dataclass(frozen=True)
class Options:
    """What to produce for each input."""

    max_side: int = 1280
    fmt: Format = "jpeg"
    watermark: Watermark | None = None

    def sizes(self) -> dict[str, int]:
        return {"hd": self.max_side, "low": max(64, min(LOW, self.max_side // 2))}


@dataclass(frozen=True)
class Output:
    """One encoded file, named by ``tag`` (e.g. ``hd``, ``s2_sheet``)."""

    tag: str
    preview: Preview


@dataclass
class Result:
    """Everything about one input except the files' paths (the parent writes them)."""

    kind: str
    outputs: list[Output] = field(default_factory=list)
    frames: int = 1
    modality: str = ""
    photometric: str = ""
    window: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- in the worker


def _previews(image: Any, opts: Options, prefix: str = "") -> list[Output]:
    made = make_previews(image, fmt=opts.fmt, sizes=opts.sizes(), watermark=opts.watermark)
    return [Output(f"{prefix}{name}", p) for name, p in made.items()]


def _sheet(image: Any, opts: Options, prefix: str = "") -> Output:
    made = make_previews(
        image, fmt=opts.fmt, sizes={"sheet": opts.max_side}, watermark=opts.watermark
    )
    return Output(f"{prefix}sheet", made["sheet"])


def _dicom(data: bytes, opts: Options) -> Result:
    from bot.imaging.dicom_render import load, render

    rendered = render(load(data))
    outputs = _previews(rendered.image, opts)
    if rendered.contact_sheet is not None:
        outputs.append(_sheet(rendered.contact_sheet, opts))
    return Result(
        kind="dicom",
        outputs=outputs,
        frames=rendered.frames,
        modality=rendered.modality,
        photometric=rendered.photometric,
        window=rendered.window,
    )


def _study(study: Any, opts: Options) -> Result:
    """Each series: its middle instance (middle frame) and a sheet of ≤ 30 sampled instances."""
    from bot.imaging.dicom_render import render_series

    if not study.series:
        raise ImagingError(Reason.NO_PIXEL_DATA, "no DICOM images found")
    result = Result(kind="study")
    series_info: list[dict[str, Any]] = []
    failures: list[ImagingError] = []
    used: set[str] = set()
    for n, series in enumerate(study.series, start=1):
        name = f"s{series.number if series.number is not None else n}"
        if name in used:  # Series Number is optional and not unique
            name = f"{name}-{n}"
        used.add(name)
        count = len(series.instances)
        try:
            rendered = render_series(series.instances)
            outputs = _previews(rendered.image, opts, f"{name}_")
            if rendered.contact_sheet is not None:
                outputs.append(_sheet(rendered.contact_sheet, opts, f"{name}_"))
        except ImagingError as exc:
            failures.append(exc)
            series_info.append(
                {"series": name, "instances": count, "ok": False, "error": exc.reason.value}
            )
            continue
        if not result.outputs:
            result.frames = rendered.frames
            result.modality = rendered.modality
            result.photometric = rendered.photometric
            result.window = rendered.window
        result.outputs.extend(outputs)
        series_info.append(
            {"series": name, "instances": count, "modality": rendered.modality, "ok": True}
        )
    if not result.outputs:
        raise failures[0]
    result.extra = {"series": series_info, "skipped": study.skipped}
    return result


def _photo(data: bytes, opts: Options) -> Result:
    from bot.imaging.photos import load_photo

    photo = load_photo(data)
    return Result(
        kind="photo",
        outputs=_previews(photo.image, opts),
        modality="XC",  # PS3.3 C.7.3.1.1.1: external-camera photography
        photometric="MONOCHROME2" if photo.image.mode == "L" else "RGB",
        extra={
            "compressed_suspect": photo.compressed_suspect,
            "original_format": photo.original_format,
        },
    )


def _pdf(data: bytes, opts: Options) -> Result:
    from bot.imaging.pdf import inspect_pdf

    info = inspect_pdf(data)
    outputs = _previews(info.preview, opts) if info.preview is not None else []
    return Result(
        kind="pdf",
        outputs=outputs,
        frames=info.pages or 0,
        modality="DOC",  # PS3.3 C.7.3.1.1.1: document (Encapsulated PDF)
        photometric="RGB" if outputs else "",
        extra={"pages": info.pages},
    )


def preview_input(path: str, opts: Options) -> Result:
    """Sniff one input by content (never by name) and make its previews.

    Runs inside a worker process; raises :class:`ImagingError` with a classified reason.
    """
    from bot.imaging.dicom_render import _looks_like_dicom
    from bot.imaging.photos import sniff_photo_format
    from bot.imaging.study_zip import read_study_dir, read_study_zip

    source = Path(path)
    if source.is_dir():
        return _study(read_study_dir(source), opts)
    try:
        size = source.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise ImagingError(Reason.TOO_LARGE, f"input of {size} bytes")
        data = source.read_bytes()
    except OSError as exc:
        raise ImagingError(Reason.UNSUPPORTED, f"cannot read input: {exc.strerror}") from None
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        return _study(read_study_zip(data), opts)
    if sniff_photo_format(data) is not None:
        return _photo(data, opts)
    if b"%PDF-" in data[:1024]:
        return _pdf(data, opts)
    if _looks_like_dicom(data[:132]):
        return _dicom(data, opts)
    raise ImagingError(Reason.UNSUPPORTED, "not DICOM, a photo, a PDF or a zip")


# ----------------------------------------------------------------------------- in the parent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sampark preview",
        description="Render previews of DICOM files, photos, PDFs, study zips or folders.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--max-side", type=int, default=1280, metavar="N", help="HD long side (default 1280)"
    )
    parser.add_argument("--format", choices=["jpeg", "webp", "png"], default="jpeg")
    parser.add_argument("--watermark", metavar="TEXT", help="case code for the watermark")
    parser.add_argument(
        "--recipient", default="sampark preview", help="recipient label on the watermark band"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per input")
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="isolated worker processes (0: decode in this process, no isolation)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per input")
    return parser


def _unique_stem(path: str, used: set[str]) -> str:
    stem = Path(path.rstrip("/\\")).name or "input"
    stem = Path(stem).stem if Path(stem).suffix.lower() in {
        ".dcm", ".dicom", ".jpg", ".jpeg", ".png", ".webp", ".zip", ".pdf"
    } else stem  # fmt: skip
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem) or "input"
    candidate, n = stem, 2
    while candidate in used:
        candidate, n = f"{stem}-{n}", n + 1
    used.add(candidate)
    return candidate


def _write(result: Result, out_dir: Path, stem: str) -> dict[str, Any]:
    paths: list[str] = []
    for output in result.outputs:
        target = out_dir / f"{stem}_{output.tag}{output.preview.suffix}"
        target.write_bytes(output.preview.data)
        paths.append(str(target))
    main = result.outputs[0].preview if result.outputs else None
    record: dict[str, Any] = {
        "ok": True,
        "kind": result.kind,
        "outputs": paths,
        "width": main.width if main else None,
        "height": main.height if main else None,
        "bytes": main.size if main else 0,
        "total_bytes": sum(o.preview.size for o in result.outputs),
        "frames": result.frames,
        "modality": result.modality,
        "photometric": result.photometric,
        "window": list(result.window) if result.window else None,
    }
    record.update(result.extra)
    return record


def _failure(reason: Reason, message: str) -> dict[str, Any]:
    return {
        "ok": False,
        "error": reason.value,
        "message": message,
        "outputs": [],
        "width": None,
        "height": None,
        "bytes": 0,
        "frames": None,
        "modality": None,
        "photometric": None,
    }


def _run_all(paths: Sequence[str], opts: Options, workers: int, timeout: float) -> list[Any]:
    """Results (``Result`` or ``ImagingError``) in input order."""

    def guarded(call: Any, path: str) -> Any:
        try:
            return call(path)
        except ImagingError as exc:
            return exc
        except MemoryError:
            return ImagingError(Reason.TOO_LARGE, "out of memory")
        except BaseException as exc:  # incl. PyO3 panics; not Ctrl-C
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            return ImagingError(Reason.CRASHED, type(exc).__name__)

    if workers <= 0:
        return [guarded(lambda p: preview_input(p, opts), p) for p in paths]
    from bot.imaging.worker import WorkerLimits, WorkerPool

    limits = WorkerLimits(timeout_s=timeout)
    size = max(1, min(workers, len(paths)))
    with (
        WorkerPool(size, limits, preload=WORKER_PRELOAD) as pool,
        ThreadPoolExecutor(size) as threads,
    ):
        futures = [
            threads.submit(guarded, lambda p: pool.call(preview_input, p, opts), p) for p in paths
        ]
        return [f.result() for f in futures]


def main(argv: list[str]) -> int:
    """Entry point of ``sampark preview``; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # usage error or --help
        return int(exc.code or 0)
    if args.max_side < 64 or args.max_side > 9000:
        print("sampark preview: --max-side must be between 64 and 9000", file=sys.stderr)
        return 2
    watermark = (
        Watermark(args.watermark, args.recipient, datetime.now(UTC)) if args.watermark else None
    )
    opts = Options(max_side=args.max_side, fmt=args.format, watermark=watermark)
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"sampark preview: cannot create {out_dir}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        results = _run_all(args.inputs, opts, args.workers, args.timeout)
    except KeyboardInterrupt:
        print("sampark preview: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the pool itself failed to start
        results = [ImagingError(Reason.CRASHED, type(exc).__name__)] * len(args.inputs)
    used: set[str] = set()
    failed = 0
    for path, result in zip(args.inputs, results, strict=True):
        if isinstance(result, Result):
            try:
                record = _write(result, out_dir, _unique_stem(path, used))
            except OSError as exc:
                record = _failure(Reason.CRASHED, f"cannot write output: {exc.strerror}")
        else:
            record = _failure(result.reason, result.detail or result.reason.value)
        record = {"input": path, **record}
        failed += not record["ok"]
        if args.json:
            print(json.dumps(record, ensure_ascii=False), flush=True)
        elif record["ok"]:
            print(
                f"ok    {path}: {record['kind']} {record['modality'] or ''} "
                f"{record['width']}x{record['height']} {record['bytes'] // 1024} KB"
                f" -> {', '.join(record['outputs'])}",
                flush=True,
            )
        else:
            print(f"FAIL  {path}: {record['error']} ({record['message']})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
