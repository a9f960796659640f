"""Imaging benchmark: render the whole DICOM corpus three ways and print the tables.

Run from the repository root::

    python -m bench.bench_render            # or: python bench/bench_render.py
    python -m bench.bench_render --quick    # corpus only, no pydicom bundled files

Corpus: ``$SAMPARK_DICOM_CORPUS``, else ``../shared/dicom`` next to the repository, plus
the images bundled with pydicom (``pydicom.data.get_testdata_file``).

For every file, side by side:

* **sampark** – ``dicom_render.load`` → ``render`` (+ contact sheet for multi-frame) →
  ``preview.make_previews`` (1280 px and 640 px progressive JPEG): what the bot does.
* **naive** – the usual pydicom recipe: ``pixel_array`` → min/max → ``uint8`` → Pillow JPEG
  (quality 75, full size). It decodes every frame and ignores LUTs, padding and polarity.
* **dcmtk** – ``dcmj2pnm +Wm +oj +Jq 75`` (scaled to 1280 px when larger), when DCMTK is
  installed (Debian: ``apt-get install dcmtk``); it cannot read JPEG 2000.

sampark and naive run in a fresh child process per file: one untimed warm-up, then the
median of up to 5 runs ("inside a warm process"); *peak* is the child's peak RSS
(``ru_maxrss``, interpreter and libraries included). dcmtk is one process per file, so its
time includes process start; its peak is that process's peak RSS.

Then: the batch comparison on the files both sampark and DCMTK read (DCMTK: one process per
file; sampark: one cold process for all files, interpreter start and imports included), a
synthetic 300-slice CT series rendered one file at a time (representative slice + contact
sheet), and the targets of issue 3 with PASS/FAIL. No timing is asserted in the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/bench_render.py`
    sys.path.insert(0, str(REPO))

CT_SLICE = "ct_signed_padding.dcm"
CHEST = "dx_chest_pa_mono1_j2k.dcm"
SERIES_SLICES = 300

TARGET_CT_MS = 10.0
TARGET_CHEST_MS = 450.0
TARGET_SERIES_MB = 1536.0
TARGET_CHEST_KB = 150.0


# ----------------------------------------------------------------------------- corpus


def corpus_dir() -> Path | None:
    env = os.environ.get("SAMPARK_DICOM_CORPUS")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "dicom"]:
        if candidate.is_dir() and any(candidate.glob("*.dcm")):
            return candidate
    return None


def bundled_images() -> list[Path]:
    """pydicom's bundled test files that carry pixel data (or fail to parse at all)."""
    import warnings

    import pydicom
    from pydicom.data import get_testdata_file

    folder = Path(get_testdata_file("CT_small.dcm")).parent
    found = []
    for path in sorted(folder.glob("*.dcm")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, force=True, defer_size=256)
            if "PixelData" in ds:
                found.append(path)
        except Exception:
            found.append(path)
    return found


# ----------------------------------------------------------------------------- the recipes


def sampark_recipe(path: Path) -> int:
    """What the bot does; returns the output bytes."""
    from bot.imaging.dicom_render import load, render
    from bot.imaging.preview import make_preview, make_previews

    rendered = render(load(path))
    total = sum(p.size for p in make_previews(rendered.image).values())
    if rendered.contact_sheet is not None:
        total += make_preview(rendered.contact_sheet).size
    return total


def naive_recipe(path: Path) -> int:
    """pixel_array → min/max → uint8 → Pillow: the recipe found in most tutorials."""
    import io

    import numpy as np
    import pydicom
    from PIL import Image

    ds = pydicom.dcmread(path)
    arr = ds.pixel_array.astype(np.float64)
    if int(ds.get("NumberOfFrames") or 1) > 1:
        arr = arr[0]
    lo, hi = arr.min(), arr.max()
    scaled = ((arr - lo) / max(hi - lo, 1e-9) * 255).astype(np.uint8)
    image = Image.fromarray(scaled, "RGB" if scaled.ndim == 3 else "L")
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=75)
    return len(buf.getvalue())


RECIPES: dict[str, Callable[[Path], int]] = {"sampark": sampark_recipe, "naive": naive_recipe}


def _child_measure(method: str, path: Path, runs: int) -> dict[str, Any]:
    """In a fresh process: warm up once, then time up to ``runs`` runs (≤ ~1.5 s)."""
    import warnings

    warnings.simplefilter("ignore")
    recipe = RECIPES[method]
    try:
        out = recipe(path)
    except Exception as exc:
        reason = getattr(getattr(exc, "reason", None), "value", None) or type(exc).__name__
        return {"ok": False, "error": str(reason)}
    times, cpu = [], []
    budget = time.perf_counter() + 1.5
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = recipe(path)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        if time.perf_counter() > budget:
            break
    return {
        "ok": True,
        "ms": statistics.median(times),
        "cpu_ms": statistics.median(cpu),
        "best_ms": min(times),
        "bytes": out,
    }


# ----------------------------------------------------------------------------- processes


@dataclass
class Measure:
    ok: bool
    ms: float = 0.0
    bytes: int = 0
    peak_mb: float = 0.0
    error: str = ""
    cpu_ms: float = 0.0
    best_ms: float = 0.0


def _spawn_wait4(argv: Sequence[str], timeout: float = 300.0) -> tuple[float, int, str, float]:
    """Run a process; returns (wall ms, exit code, stdout, peak RSS MB from ``os.wait4``)."""
    import threading

    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)
    assert proc.stdout is not None
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        out = proc.stdout.read()  # children print one short line; EOF comes at exit
        _pid, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
        proc.stdout.close()
    wall = (time.perf_counter() - start) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, proc.returncode, out.decode(errors="replace"), usage.ru_maxrss / 1024


def measure_python(method: str, path: Path, runs: int) -> Measure:
    cmd = [sys.executable, "-m", "bench.bench_render", "--child", method, str(path)]
    cmd += ["--runs", str(runs)]
    _wall, code, out, peak = _spawn_wait4(cmd)
    try:
        data = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return Measure(False, peak_mb=peak, error=f"exit {code}")
    if not data["ok"]:
        return Measure(False, peak_mb=peak, error=data["error"])
    return Measure(
        True, data["ms"], data["bytes"], peak, cpu_ms=data["cpu_ms"], best_ms=data["best_ms"]
    )


def dcmtk_command(path: Path, out: Path) -> list[str] | None:
    exe = shutil.which("dcmj2pnm")
    if exe is None:
        return None
    import warnings

    import pydicom

    cmd = [exe, "+Wm", "+oj", "+Jq", "75"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        rows, cols = int(ds.Rows), int(ds.Columns)
        if max(rows, cols) > 1280:
            cmd += ["+Sxv", "1280"] if cols >= rows else ["+Syv", "1280"]
    except Exception:
        pass
    return [*cmd, str(path), str(out)]


def measure_dcmtk(path: Path, tmp: Path, runs: int = 3) -> Measure | None:
    out = tmp / "dcmtk.jpg"
    cmd = dcmtk_command(path, out)
    if cmd is None:
        return None
    walls, peak = [], 0.0
    for _ in range(runs):
        out.unlink(missing_ok=True)
        wall, code, _out, rss = _spawn_wait4(cmd, timeout=120)
        if code != 0 or not out.exists():
            return Measure(False, peak_mb=rss, error=f"exit {code}")
        walls.append(wall)
        peak = max(peak, rss)
    return Measure(True, statistics.median(walls), out.stat().st_size, peak)


# ----------------------------------------------------------------------------- batch & series


def _batch_child(paths: Sequence[str]) -> None:
    import warnings

    warnings.simplefilter("ignore")
    for p in paths:
        sampark_recipe(Path(p))


def batch_sampark(paths: Sequence[Path]) -> float:
    """Wall ms of one cold process rendering every file (interpreter start included)."""
    cmd = [sys.executable, "-m", "bench.bench_render", "--batch", *map(str, paths)]
    wall, code, _out, _peak = _spawn_wait4(cmd)
    if code != 0:
        raise RuntimeError(f"batch failed with exit code {code}")
    return wall


def batch_dcmtk(paths: Sequence[Path], tmp: Path) -> float:
    total = 0.0
    for i, path in enumerate(paths):
        cmd = dcmtk_command(path, tmp / f"batch{i}.jpg")
        assert cmd is not None
        wall, _code, _out, _rss = _spawn_wait4(cmd)
        total += wall
    return total


def synthesize_series(source: Path, folder: Path, slices: int) -> list[Path]:
    """``slices`` copies of one CT slice with new UIDs and positions: one series."""
    import pydicom
    from pydicom.uid import generate_uid

    template = pydicom.dcmread(source)
    series_uid, study_uid = generate_uid(), generate_uid()
    paths = []
    for i in range(slices):
        ds = template.copy()
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        ds.StudyInstanceUID = study_uid
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(i)]
        path = folder / f"IM{i:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _series_child(folder: str) -> None:
    import warnings

    warnings.simplefilter("ignore")
    from bot.imaging.dicom_render import render_series
    from bot.imaging.preview import make_preview, make_previews

    paths = sorted(Path(folder).glob("*.dcm"))
    start = time.perf_counter()
    rendered = render_series(paths)
    total = sum(p.size for p in make_previews(rendered.image).values())
    assert rendered.contact_sheet is not None
    total += make_preview(rendered.contact_sheet).size
    ms = (time.perf_counter() - start) * 1000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ms": ms, "bytes": total, "peak_mb": peak, "frames": rendered.frames}))


# ----------------------------------------------------------------------------- report


def _fmt(m: Measure | None) -> list[str]:
    if m is None:
        return ["–", "–", "–"]
    if not m.ok:
        return [f"fail: {m.error}", "–", f"{m.peak_mb:.0f}" if m.peak_mb else "–"]
    return [f"{m.ms:.1f}", f"{m.bytes / 1024:.0f}", f"{m.peak_mb:.0f}"]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
        for r in rows
    ]
    return "\n".join([line, sep, *body])


def run(args: argparse.Namespace) -> int:
    corpus = corpus_dir()
    files: list[Path] = sorted(corpus.glob("*.dcm")) if corpus else []
    if corpus is None:
        print("corpus not found (set SAMPARK_DICOM_CORPUS); using pydicom's files only")
    if not args.quick:
        files += bundled_images()
    has_dcmtk = shutil.which("dcmj2pnm") is not None
    print(f"{len(files)} files; DCMTK: {'yes' if has_dcmtk else 'not installed'}\n", flush=True)
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for path in files:
            ours = measure_python("sampark", path, args.runs)
            naive = measure_python("naive", path, args.runs)
            dcmtk = measure_dcmtk(path, tmp) if has_dcmtk else None
            results[path] = (ours, naive, dcmtk)
            rows.append([path.name[:44], *_fmt(ours), *_fmt(naive), *_fmt(dcmtk)])
            print(f"  {path.name}", file=sys.stderr, flush=True)
        header = ["file", "sampark ms", "KB", "peak MB", "naive ms", "KB", "peak MB"]
        header += ["dcmtk ms", "KB", "peak MB"]
        ok = [r for r in results.values() if r[0].ok]
        total = [
            "TOTAL (files each reads)",
            f"{sum(r[0].ms for r in ok):.0f}",
            f"{sum(r[0].bytes for r in ok) / 1024:.0f}",
            f"{max((r[0].peak_mb for r in results.values()), default=0):.0f}",
            f"{sum(r[1].ms for r in results.values() if r[1].ok):.0f}",
            f"{sum(r[1].bytes for r in results.values() if r[1].ok) / 1024:.0f}",
            f"{max((r[1].peak_mb for r in results.values()), default=0):.0f}",
        ]
        if has_dcmtk:
            done = [r[2] for r in results.values() if r[2] is not None and r[2].ok]
            total += [
                f"{sum(m.ms for m in done):.0f}",
                f"{sum(m.bytes for m in done) / 1024:.0f}",
                f"{max((m.peak_mb for m in done), default=0):.0f}",
            ]
        else:
            total += ["–", "–", "–"]
        rows.append(total)
        print("## Per file (sampark/naive: warm median; dcmtk: one process per file)\n")
        print(_table(header, rows))

        verdicts: list[tuple[str, bool | None, str]] = []
        if has_dcmtk:
            both = [p for p, r in results.items() if r[0].ok and r[2] is not None and r[2].ok]
            ours_batch = statistics.median(batch_sampark(both) for _ in range(3))
            dcmtk_batch = statistics.median(batch_dcmtk(both, tmp) for _ in range(3))
            print(f"\n## Batch on the {len(both)} files both read (process start included)\n")
            print(
                _table(
                    ["", "wall ms"],
                    [
                        ["sampark (1 cold process)", f"{ours_batch:.0f}"],
                        ["dcmtk (1 process per file)", f"{dcmtk_batch:.0f}"],
                    ],
                )
            )
            verdicts.append(
                (
                    "batch time ≤ DCMTK's",
                    ours_batch <= dcmtk_batch,
                    f"{ours_batch:.0f} ms vs {dcmtk_batch:.0f} ms",
                )
            )
            only_dcmtk = [p.name for p, r in results.items() if not r[0].ok and r[2] and r[2].ok]
            if only_dcmtk:
                print(f"\nRead by DCMTK only: {', '.join(only_dcmtk)}")

        series_dir = tmp / "series"
        series_dir.mkdir()
        source = (corpus / CT_SLICE) if corpus else None
        if source is None or not source.exists():
            from pydicom.data import get_testdata_file

            source = Path(get_testdata_file("CT_small.dcm"))
        synthesize_series(source, series_dir, args.series)
        cmd = [sys.executable, "-m", "bench.bench_render", "--series-child", str(series_dir)]
        _wall, code, out, rss = _spawn_wait4(cmd, timeout=600)
        series = json.loads(out.strip().splitlines()[-1]) if code == 0 else None
        print(f"\n## {args.series}-slice CT series ({source.name} × {args.series})\n")
        if series:
            print(
                _table(
                    ["series", "ms", "KB", "peak MB"],
                    [
                        [
                            f"{args.series} slices",
                            f"{series['ms']:.0f}",
                            f"{series['bytes'] / 1024:.0f}",
                            f"{rss:.0f}",
                        ]
                    ],
                )
            )
            verdicts.append(
                (
                    f"{args.series}-slice series peak < 1.5 GB",
                    rss < TARGET_SERIES_MB,
                    f"{rss:.0f} MB",
                )
            )
        else:
            verdicts.append((f"{args.series}-slice series", False, f"exit {code}"))

        by_name = {p.name: r for p, r in results.items()}
        if CT_SLICE in by_name and by_name[CT_SLICE][0].ok:
            m = by_name[CT_SLICE][0]
            verdicts.append(
                (
                    "512² CT slice < 10 ms (warm)",
                    m.ms < TARGET_CT_MS,
                    f"median {m.ms:.1f} ms, best {m.best_ms:.1f} ms, CPU {m.cpu_ms:.1f} ms",
                )
            )
        if CHEST in by_name and by_name[CHEST][0].ok:
            m = by_name[CHEST][0]
            verdicts.append(
                (
                    "2000×2128 J2K chest < 450 ms (warm)",
                    m.ms < TARGET_CHEST_MS,
                    f"median {m.ms:.0f} ms, best {m.best_ms:.0f} ms, CPU {m.cpu_ms:.0f} ms",
                )
            )
            from bot.imaging.dicom_render import load, render
            from bot.imaging.preview import make_preview

            assert corpus is not None
            kb = make_preview(render(load(corpus / CHEST)).image).size / 1024
            verdicts.append(
                ("1280 px chest preview < 150 KB", kb < TARGET_CHEST_KB, f"{kb:.0f} KB")
            )
        print("\n## Targets\n")
        print(
            _table(
                ["target", "result", "measured"],
                [[n, "PASS" if v else "FAIL", m] for n, v, m in verdicts],
            )
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_render", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="corpus only, no bundled files")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per file (median)")
    parser.add_argument("--series", type=int, default=SERIES_SLICES, help="series length")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--batch", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--series-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child_measure(args.child[0], Path(args.child[1]), args.runs)))
        return 0
    if args.batch:
        _batch_child(args.batch)
        return 0
    if args.series_child:
        _series_child(args.series_child)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
