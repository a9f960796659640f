"""Synthetic clinical files for the demo and tests: nothing real, nothing from ``shared/``.

The chest film is a DICOM DX made with numpy and pydicom (with made-up identifiers, so
de-identification has something to remove); the photo is a JPEG with EXIF GPS (so
stripping has something to strip).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

DX_STORAGE = UID("1.2.840.10008.5.1.4.1.1.1.1")
FAKE_PATIENT = "DEMO^PATIENT^SYNTHETIC"


def chest_film_dicom(size: int = 1024) -> bytes:
    """A 12-bit MONOCHROME2 chest film: dark lungs, bright spine, ribs and mediastinum."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    body = np.exp(-(((x - 0.5) / 0.42) ** 8 + ((y - 0.55) / 0.48) ** 8))
    lungs = sum(
        np.exp(-(((x - cx) / 0.15) ** 2 + ((y - 0.48) / 0.26) ** 2) * 2) for cx in (0.32, 0.68)
    )
    ribs = 0.12 * (np.sin(y * 60) > 0.6) * (lungs > 0.2)
    spine = np.exp(-(((x - 0.5) / 0.045) ** 2) * 2)
    heart = np.exp(-(((x - 0.55) / 0.12) ** 2 + ((y - 0.62) / 0.12) ** 2) * 2)
    density = body * (0.55 - 0.4 * lungs + ribs + 0.45 * spine + 0.3 * heart)
    rng = np.random.default_rng(7)
    pixels = np.clip(density * 3600 + rng.normal(0, 25, density.shape), 0, 4095).astype(np.uint16)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = DX_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "DX", "CHEST", "PA"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = FAKE_PATIENT, "DEMO-0001", "19800101"
    ds.InstitutionName, ds.ReferringPhysicianName = "Demo Rural Hub", "DEMO^DOCTOR"
    ds.StudyDate, ds.AccessionNumber, ds.BurnedInAnnotation = "20260105", "ACC-DEMO", "NO"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.PixelData = pixels.tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def lesion_photo_jpeg(width: int = 1600, height: int = 1200) -> bytes:
    """A phone photo of a skin lesion, with camera EXIF including GPS coordinates."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    skin = np.stack([200 - y / 20, 150 - y / 30, 120 - y / 40], axis=-1)
    spot = np.exp(-(((x - width * 0.55) / 140) ** 2 + ((y - height * 0.5) / 110) ** 2))
    rgb = np.clip(skin * (1 - 0.6 * spot[..., None]), 0, 255).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    exif = Image.Exif()
    exif[0x010F] = "DemoPhone"  # Make
    exif[0x0112] = 1  # Orientation
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (15.0, 27.0, 30.0), 3: "E", 4: (75.0, 0.0, 36.0)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


CT_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2")


def ct_series_zip(slices: int = 20, size: int = 512) -> bytes:
    """A zip of one axial CT series (signed HU, window 40/400, positions along z)."""
    import zipfile

    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    study, series = generate_uid(), generate_uid()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for n in range(slices):
            z = n / max(1, slices - 1)
            body = ((x - 0.5) / 0.42) ** 2 + ((y - 0.5) / (0.32 + 0.05 * z)) ** 2 < 1
            lungs = sum(((x - cx) / 0.14) ** 2 + ((y - 0.48) / 0.2) ** 2 < 1 for cx in (0.33, 0.67))
            spine = ((x - 0.5) / 0.05) ** 2 + ((y - 0.75) / 0.05) ** 2 < 1
            hu = np.where(body, 40.0, -1000.0) + np.where(lungs, -820.0, 0.0)
            hu = np.where(spine, 900.0, hu) + 30 * np.sin(x * 40 + n)
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = CT_STORAGE
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID = CT_STORAGE
            ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.Modality, ds.PatientName, ds.PatientID = "CT", FAKE_PATIENT, "DEMO-0002"
            ds.InstanceNumber = n + 1
            ds.ImagePositionPatient = [0.0, 0.0, float(n) * 2.5]
            ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.Rows = ds.Columns = size
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
            ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
            ds.WindowCenter, ds.WindowWidth = 40, 400
            ds.PixelData = np.clip(hu + 1024, -32768, 32767).astype(np.int16).tobytes()
            one = io.BytesIO()
            ds.save_as(one, enforce_file_format=True)
            archive.writestr(f"CT/IM{n + 1:04d}.dcm", one.getvalue())
    return buffer.getvalue()
