"""``sampark deid INPUT OUTPUT [--case-key KEY] [--label CODE] [--json]``: de-identify DICOM.

INPUT may be one DICOM file, a folder of DICOM files (walked recursively, symlinks and
non-DICOM files skipped) or a zip of a study. A file goes to OUTPUT (a file path, or a
folder that exists or ends with ``/``); folders and zips go to
``OUTPUT/<series UID>/<SOP instance UID>.dcm`` with the *new* UIDs, so no original name
or UID leaks through the file names.

The case key makes the UID remapping reproducible: the same input and key give the same
UIDs (``--case-key``, else ``$SAMPARK_DEID_KEY``, else a random key and a note that the
UIDs cannot be reproduced). Exit status 0 when every DICOM input was de-identified, 1 when
any failed or none was found, 2 on a usage error. Never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.imaging.deid import dataset_to_bytes, deidentify, read_dicom_bytes
from bot.imaging.errors import ImagingError, Reason
from bot.imaging.study_zip import ZipLimits, is_dicom_part10, read_study_zip

__all__ = ["main"]

MAX_FILE_BYTES = 1024 * 1024 * 1024


@dataclass
class _Outcome:
    source: str
    ok: bool
    output: str = ""
    removed: int = 0
    burned_in_risk: bool = False
    error: str = ""
    message: str = ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sampark deid",
        description="De-identify DICOM (PS3.15 Basic Application Confidentiality Profile).",
    )
    parser.add_argument("input", help="DICOM file, folder of DICOM files, or zip of a study")
    parser.add_argument("output", help="output file (for one file) or folder")
    parser.add_argument("--case-key", help="secret that makes the UID remapping reproducible")
    parser.add_argument("--label", help="put this (e.g. the case code) in Patient's Name/ID")
    parser.add_argument("--json", action="store_true", help="one JSON object per file")
    return parser


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)


def _deid(data: bytes, key: bytes, label: str | None) -> tuple[bytes, str, str, int, bool]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read_dicom_bytes(data)
        result = deidentify(ds, key, patient_label=label, in_place=True)
        out = dataset_to_bytes(result.dataset)
    series = str(result.dataset.get("SeriesInstanceUID", "") or "") or "no-series"
    sop = str(result.dataset.get("SOPInstanceUID", ""))
    return out, series, sop, result.removed, result.burned_in_risk


def _one(
    source: str, data: bytes, key: bytes, label: str | None, target: Path | None, root: Path
) -> _Outcome:
    """De-identify one instance into ``target`` (a file) or ``root/<series>/<sop>.dcm``."""
    try:
        out, series, sop, removed, risk = _deid(data, key, label)
        path = target if target is not None else root / series / f"{sop}.dcm"
        _write(path, out)
    except ImagingError as exc:
        return _Outcome(source, False, error=exc.reason.value, message=exc.detail)
    except OSError as exc:
        return _Outcome(source, False, error="io_error", message=exc.strerror or "")
    except Exception as exc:
        return _Outcome(source, False, error=Reason.CRASHED.value, message=type(exc).__name__)
    return _Outcome(source, True, str(path), removed, risk)


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _run(args: argparse.Namespace, key: bytes) -> tuple[list[_Outcome], int]:
    src = Path(args.input)
    out = Path(args.output)
    outcomes: list[_Outcome] = []
    skipped = 0
    if src.is_dir():
        files = [p for p in _walk(src) if not p.is_symlink() and p.is_file()]
        resolved_out = out.resolve()
        for path in files:
            if resolved_out in path.resolve().parents:
                continue  # our own output inside the input folder
            try:
                with path.open("rb") as fh:
                    head = fh.read(132)
                    if not is_dicom_part10(head) or path.stat().st_size > MAX_FILE_BYTES:
                        skipped += 1
                        continue
                    data = head + fh.read()
            except OSError:
                skipped += 1
                continue
            outcomes.append(_one(str(path), data, key, args.label, None, out))
        return outcomes, skipped
    if not src.is_file():
        raise ImagingError(Reason.UNSUPPORTED, "input not found")
    if src.stat().st_size > MAX_FILE_BYTES:
        raise ImagingError(Reason.TOO_LARGE, "input larger than 1 GiB")
    data = src.read_bytes()
    if data[:4] == b"PK\x03\x04":
        study = read_study_zip(data, limits=ZipLimits())
        for s_index, series in enumerate(study.series, start=1):
            for i_index, raw in enumerate(series.instances, start=1):
                name = f"{src.name}#series{s_index}/{i_index}"
                outcomes.append(_one(name, raw, key, args.label, None, out))
        return outcomes, study.skipped
    target = None if (out.is_dir() or args.output.endswith(("/", os.sep))) else out
    outcomes.append(_one(str(src), data, key, args.label, target, out))
    return outcomes, skipped


def _report(outcomes: list[_Outcome], skipped: int, as_json: bool) -> None:
    for o in outcomes:
        if as_json:
            print(json.dumps(o.__dict__, ensure_ascii=False))
        elif o.ok:
            risk = "  burned-in-risk" if o.burned_in_risk else ""
            print(f"ok      {o.output}  (removed {o.removed}){risk}")
        else:
            print(f"failed  {o.source}: {o.error} {o.message}".rstrip())
    ok = sum(o.ok for o in outcomes)
    summary = f"{ok} de-identified, {len(outcomes) - ok} failed, {skipped} skipped (not DICOM)"
    print(summary, file=sys.stderr)


def main(argv: Sequence[str]) -> int:
    """Entry point of ``sampark deid``; returns the exit status."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exc:  # argparse printed the usage
        return 0 if exc.code == 0 else 2
    try:
        key_text = args.case_key or os.environ.get("SAMPARK_DEID_KEY")
        if key_text:
            key = key_text.encode("utf-8")
        else:
            key = secrets.token_bytes(32)
            print("note: no --case-key: UIDs remapped with a random key", file=sys.stderr)
        outcomes, skipped = _run(args, key)
    except ImagingError as exc:
        print(f"error: {exc.reason.value} {exc.detail}".rstrip(), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc.strerror or type(exc).__name__}", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"error: crashed ({type(exc).__name__})", file=sys.stderr)
        return 1
    _report(outcomes, skipped, args.json)
    if not outcomes:
        print("error: no DICOM file found", file=sys.stderr)
        return 1
    return 0 if all(o.ok for o in outcomes) else 1
