"""``sampark preview``: every input gives one JSON object; failures are classified; exit codes."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from bot.imaging.cli_preview import main
from bot.imaging.errors import Reason

REQUIRED = {
    "input",
    "ok",
    "outputs",
    "width",
    "height",
    "bytes",
    "frames",
    "modality",
    "photometric",
}


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, list[dict]]:
    code = main(argv)
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def series_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six CT_small slices as one series, with new UIDs and positions."""
    root = tmp_path_factory.mktemp("series")
    src = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    series_uid = generate_uid()
    for i in range(6):
        ds = src.copy()
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [0, 0, 5.0 * i]
        ds.save_as(root / f"IM{i:04d}", enforce_file_format=True)
    (root / "notes.txt").write_text("not dicom")
    return root


def test_corpus_files_in_one_run(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [
        "dx_chest_pa_mono1_j2k.dcm",
        "us_palette_color.dcm",
        "enhanced_mr_10frames.dcm",
        "broken_dx_chest_corrupt_j2k.dcm",
        "broken_truncated_j2k.dcm",
    ]
    argv = [str(corpus / n) for n in names] + ["--out", str(tmp_path), "--json", "--workers", "2"]
    code, records = _run(capsys, argv)
    assert code == 1
    assert [Path(r["input"]).name for r in records] == names
    for record in records:
        assert set(record) >= REQUIRED
    chest, palette, mr, corrupt, truncated = records
    assert chest["ok"] is True
    assert chest["modality"] == "DX"
    assert chest["photometric"] == "MONOCHROME1"
    assert max(chest["width"], chest["height"]) == 1280
    assert chest["bytes"] < 150 * 1024
    assert len(chest["outputs"]) == 2
    for path in chest["outputs"]:
        image = Image.open(path)
        assert image.mode == "L"
        assert not image.getexif()
    assert Path(chest["outputs"][0]).stat().st_size == chest["bytes"]
    assert Image.open(palette["outputs"][0]).mode == "RGB"
    assert mr["frames"] == 10
    assert any(p.endswith("_sheet.jpg") for p in mr["outputs"])
    for bad in (corrupt, truncated):
        assert bad["ok"] is False
        assert bad["error"] == Reason.CORRUPT.value
        assert bad["message"]
        assert bad["outputs"] == []


def test_all_ok_exits_zero_and_watermark_band(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        str(corpus / "ct_signed_padding.dcm"),
        "--out", str(tmp_path), "--json", "--watermark", "K7Q2", "--max-side", "800",
        "--workers", "0",
    ]  # fmt: skip
    code, [record] = _run(capsys, argv)
    assert code == 0
    assert record["ok"] is True
    assert record["width"] == 512  # 512² enlarged to at least 512, band below it
    assert record["height"] > 512


def test_folder_zip_photo_and_garbage(
    series_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(series_dir.iterdir()):
            zf.write(path, f"DICOM/{path.name}")
    photo = tmp_path / "wound.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°
    exif[0x010F] = "PhoneMaker"
    Image.new("RGB", (400, 300), (200, 40, 40)).save(photo, exif=exif)
    garbage = tmp_path / "notes.bin"
    garbage.write_bytes(b"\x00\x01 not an image at all" * 10)
    out = tmp_path / "out"
    argv = [str(series_dir), str(archive), str(photo), str(garbage), "--out", str(out), "--json"]
    code, records = _run(capsys, argv)
    assert code == 1
    folder, zipped, jpeg, bad = records
    for study in (folder, zipped):
        assert study["ok"] is True
        assert study["kind"] == "study"
        assert study["frames"] == 6
        assert study["modality"] == "CT"
        assert any(p.endswith("_sheet.jpg") for p in study["outputs"])
    assert zipped["skipped"] >= 1
    assert jpeg["ok"] is True
    assert jpeg["kind"] == "photo"
    assert jpeg["height"] > jpeg["width"]  # EXIF orientation applied
    data = Path(jpeg["outputs"][0]).read_bytes()
    assert b"PhoneMaker" not in data
    assert not Image.open(io.BytesIO(data)).getexif()
    assert bad == {**bad, "ok": False, "error": Reason.UNSUPPORTED.value}


def test_same_stem_does_not_overwrite(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = str(corpus / "voi_lut_sequence.dcm")
    code, records = _run(capsys, [f, f, "--out", str(tmp_path), "--json", "--workers", "0"])
    assert code == 0
    assert set(records[0]["outputs"]).isdisjoint(records[1]["outputs"])


@pytest.mark.parametrize("fmt", ["webp", "png"])
def test_other_formats(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    argv = [str(corpus / "us_ybr_rct_j2k.dcm"), "--out", str(tmp_path), "--format", fmt]
    code, _ = main([*argv, "--json", "--workers", "0"]), None
    assert code == 0
    records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert Image.open(records[0]["outputs"][0]).format == fmt.upper()


def test_usage_errors_return_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["x.dcm", "--out", str(tmp_path), "--max-side", "5"]) == 2
    assert main(["x.dcm", "--out", str(tmp_path), "--format", "gif"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_human_output_never_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.dcm"
    assert main([str(missing), "--out", str(tmp_path / "o"), "--workers", "0"]) == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out
    assert "Traceback" not in captured.out + captured.err


def test_pdf_is_previewed_or_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pdf = tmp_path / "report.pdf"
    Image.new("RGB", (300, 400), (255, 255, 255)).save(pdf)
    code, [record] = _run(capsys, [str(pdf), "--out", str(tmp_path / "o"), "--json"])
    assert code == 0
    assert record["ok"] is True
    assert record["kind"] == "pdf"
    assert record["modality"] == "DOC"


def test_series_with_the_same_number_do_not_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    folder = tmp_path / "cd"
    folder.mkdir()
    for s in range(2):
        series_uid = generate_uid()
        for i in range(2):
            ds = src.copy()
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.SeriesInstanceUID = series_uid
            ds.SeriesNumber = 1
            ds.InstanceNumber = i + 1
            ds.save_as(folder / f"S{s}I{i}", enforce_file_format=True)
    argv = [str(folder), "--out", str(tmp_path / "o"), "--json", "--workers", "0"]
    code, [record] = _run(capsys, argv)
    assert code == 0
    assert len(record["series"]) == 2
    assert len(set(record["outputs"])) == len(record["outputs"]) == 6
