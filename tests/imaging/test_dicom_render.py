"""The DICOM display pipeline on the shared corpus and pydicom's bundled files.

Every file either renders (and the rendering has the property that matters) or fails with a
classified :class:`Reason`.
"""

from __future__ import annotations

import copy
import io
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit

from bot.imaging import dicom_render
from bot.imaging.dicom_render import (
    Rendered,
    Window,
    frame_attributes,
    load,
    percentile_window,
    presentation_inverts,
    render,
    sample_frames,
    voi_window,
    window_presets,
)
from bot.imaging.errors import ImagingError, Reason

# ----------------------------------------------------------------------------- expectations

#: Corpus files that must fail, and why. Every other corpus file must render.
#: broken_bad_sequence.dcm is *not* here: its malformed sequence (an implicit-VR item in an
#: explicit-VR file, pydicom issue #1067) is read by pydicom and its pixel data is an intact
#: CT slice, so it renders (checked visually: a lumbar vertebra, bone white).
CORPUS_FAILURES = {
    "broken_dx_chest_corrupt_j2k.dcm": Reason.CORRUPT,
    "broken_truncated_j2k.dcm": Reason.CORRUPT,
}

BUNDLED_FAILURES = {
    "JPEG-lossy.dcm": Reason.UNSUPPORTED,  # 12-bit JPEG Extended: only GPL libjpeg decodes it
    "JPGExtended.dcm": Reason.UNSUPPORTED,
    "JPEG2000-embedded-sequence-delimiter.dcm": Reason.CORRUPT,
    "MR_truncated.dcm": Reason.CORRUPT,
    "badVR.dcm": Reason.CORRUPT,
    "no_meta.dcm": Reason.UNSUPPORTED,
    "meta_missing_tsyntax.dcm": Reason.CORRUPT,
    "nested_priv_SQ.dcm": Reason.CORRUPT,
    "ExplVR_BigEndNoMeta.dcm": Reason.NO_PIXEL_DATA,
    "ExplVR_LitEndNoMeta.dcm": Reason.NO_PIXEL_DATA,
    "UN_sequence.dcm": Reason.NO_PIXEL_DATA,
    "empty_charset_LEI.dcm": Reason.NO_PIXEL_DATA,
    "no_meta_group_length.dcm": Reason.NO_PIXEL_DATA,
    "priv_SQ.dcm": Reason.NO_PIXEL_DATA,
    "reportsi.dcm": Reason.NO_PIXEL_DATA,
    "reportsi_with_empty_number_tags.dcm": Reason.NO_PIXEL_DATA,
    "rtplan.dcm": Reason.NO_PIXEL_DATA,
    "rtplan_truncated.dcm": Reason.CORRUPT,  # cut inside its last element
    "rtstruct.dcm": Reason.NO_PIXEL_DATA,
    "test-SR.dcm": Reason.NO_PIXEL_DATA,
    "waveform_ecg.dcm": Reason.NO_PIXEL_DATA,
}

BUNDLED_DIR = Path(get_testdata_file("CT_small.dcm")).parent
BUNDLED = sorted(p.name for p in BUNDLED_DIR.glob("*.dcm"))


def _corpus_names() -> list[str]:
    from tests.imaging.conftest import corpus_dir

    path = corpus_dir()
    return sorted(p.name for p in path.glob("*.dcm")) if path else []


def _check_rendered(r: Rendered) -> None:
    assert isinstance(r, Rendered)
    assert r.image.mode in ("L", "RGB")
    assert r.image.width > 0
    assert r.image.height > 0
    assert 0 <= r.frame_index < r.frames
    if r.frames > 1:
        assert r.contact_sheet is not None
        assert r.contact_sheet.width <= dicom_render.SHEET_MAX_WIDTH


def _render_file(path: Path) -> Rendered:
    return render(load(path))


@pytest.fixture(scope="module")
def rendered_corpus(corpus: Path) -> dict[str, Rendered]:
    """Each renderable corpus file rendered once for the whole module."""
    return {
        name: _render_file(corpus / name) for name in _corpus_names() if name not in CORPUS_FAILURES
    }


# ----------------------------------------------------------------------------- every file


@pytest.mark.parametrize("name", _corpus_names() or ["<no corpus>"])
def test_corpus_file_renders_or_fails_classified(corpus: Path, name: str) -> None:
    expected = CORPUS_FAILURES.get(name)
    if expected is None:
        _check_rendered(_render_file(corpus / name))
    else:
        with pytest.raises(ImagingError) as err:
            _render_file(corpus / name)
        assert err.value.reason is expected


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_file_renders_or_fails_classified(name: str) -> None:
    expected = BUNDLED_FAILURES.get(name)
    if expected is None:
        _check_rendered(_render_file(BUNDLED_DIR / name))
    else:
        with pytest.raises(ImagingError) as err:
            _render_file(BUNDLED_DIR / name)
        assert err.value.reason is expected


# ----------------------------------------------------------------------------- grayscale


def _stored(path: Path) -> np.ndarray:
    ds = pydicom.dcmread(path)
    return ds.pixel_array


@pytest.mark.parametrize(
    "name",
    [
        "dx_chest_pa_mono1_j2k.dcm",
        "cr_mono1_j2k_lossless.dcm",
        "cr_hip_jpeg_lossless.dcm",
        "mr_1024_rescale_window_j2k.dcm",
        "ct_signed_padding.dcm",
    ],
)
def test_polarity_follows_photometric_interpretation(
    corpus: Path, rendered_corpus: dict[str, Rendered], name: str
) -> None:
    """MONOCHROME1 (minimum is white, PS3.3 C.7.6.3.1.2) is inverted exactly once."""
    stored = _stored(corpus / name).astype(np.float64)[::4, ::4]
    shown = np.asarray(rendered_corpus[name].image, dtype=np.float64)[::4, ::4]
    corr = np.corrcoef(stored.ravel(), shown.ravel())[0, 1]
    mono1 = pydicom.dcmread(corpus / name, stop_before_pixels=True).PhotometricInterpretation
    if mono1 == "MONOCHROME1":
        assert corr < -0.5
    else:
        assert corr > 0.5


def test_chest_film_bone_is_white(rendered_corpus: dict[str, Rendered]) -> None:
    """DX chest PA (MONOCHROME1 + INVERSE): spine/mediastinum brighter than both lungs."""
    r = rendered_corpus["dx_chest_pa_mono1_j2k.dcm"]
    a = np.asarray(r.image, dtype=np.float64)
    h, w = a.shape
    band = slice(int(h * 0.3), int(h * 0.6))
    centre = a[band, int(w * 0.45) : int(w * 0.55)].mean()
    left = a[band, int(w * 0.2) : int(w * 0.35)].mean()
    right = a[band, int(w * 0.65) : int(w * 0.8)].mean()
    assert centre > left + 40
    assert centre > right + 10
    assert r.window == (2048.0, 4096.0)
    assert r.photometric == "MONOCHROME1"


@pytest.mark.parametrize("name", ["ct_signed_padding.dcm", "ct_chest_jpegls_nowindow.dcm"])
def test_padding_pixels_are_black(
    corpus: Path, rendered_corpus: dict[str, Rendered], name: str
) -> None:
    stored = _stored(corpus / name)
    shown = np.asarray(rendered_corpus[name].image)
    pad = stored == -2000
    assert pad.sum() > 100
    assert shown[pad].max() == 0
    assert shown[~pad].max() == 255


def test_no_window_uses_ct_preset(rendered_corpus: dict[str, Rendered]) -> None:
    assert rendered_corpus["ct_chest_jpegls_nowindow.dcm"].window == (40.0, 400.0)


def test_percentile_window_ignores_padding(corpus: Path) -> None:
    """Without a CT preset the robust window must not be stretched by the padding value."""
    ds = load(corpus / "ct_chest_jpegls_nowindow.dcm")
    ds.Modality = "OT"
    r = render(ds)
    assert r.window is not None
    low = r.window[0] - r.window[1] / 2
    assert low > -2000 - 1024 + 50  # padding (stored -2000) is far below the window


def test_stored_window_is_used(rendered_corpus: dict[str, Rendered]) -> None:
    assert rendered_corpus["mr_1024_rescale_window_j2k.dcm"].window == (1000.0, 2000.0)
    assert rendered_corpus["ct_signed_padding.dcm"].window == (40.0, 100.0)


def test_voi_lut_sequence_is_applied(corpus: Path, rendered_corpus: dict[str, Rendered]) -> None:
    ds = pydicom.dcmread(corpus / "voi_lut_sequence.dcm")
    lut = np.asarray(ds.VOILUTSequence[0].LUTData, dtype=np.float64)
    stored = ds.pixel_array
    expected = np.rint(lut[stored] / 65535.0 * 255.0)
    shown = np.asarray(rendered_corpus["voi_lut_sequence.dcm"].image, dtype=np.float64)
    assert rendered_corpus["voi_lut_sequence.dcm"].window is None
    assert np.abs(shown - expected).max() <= 1


def test_modality_lut_sequence_is_applied(corpus: Path) -> None:
    ds = load(corpus / "modality_lut_sequence.dcm")
    data = np.asarray(ds.ModalityLUTSequence[0].LUTData, dtype=np.float64)
    ds.WindowCenter, ds.WindowWidth = 32768, 65536  # full LUT output range, LINEAR
    shown = np.asarray(render(ds).image, dtype=np.float64)
    stored = ds.pixel_array.astype(np.int64)
    modality = data[np.clip(stored + 2048, 0, data.size - 1)]
    expected = np.clip((modality - 32767.5) / 65535 + 0.5, 0, 1) * 255
    assert np.abs(shown - expected).max() <= 1.5


def test_empty_lut_sequences_render(rendered_corpus: dict[str, Rendered]) -> None:
    image = np.asarray(rendered_corpus["empty_lut_sequences.dcm"].image, dtype=np.float64)
    assert image.std() > 20
    assert image.min() < 30
    assert image.max() > 225


# ----------------------------------------------------------------------------- enhanced


def test_enhanced_ct_uses_functional_group_values(rendered_corpus: dict[str, Rendered]) -> None:
    """Rescale and window live only in the Shared Functional Groups of this file."""
    r = rendered_corpus["enhanced_ct_2frames.dcm"]
    assert r.window == (49.0, 102.0)
    assert r.frames == 2
    assert r.contact_sheet is not None


def _grayscale_enhanced(corpus: Path) -> Dataset:
    ds = load(corpus / "enhanced_ct_2frames.dcm")
    for kw in ("Red", "Green", "Blue"):
        del ds[f"{kw}PaletteColorLookupTableDescriptor"]
        del ds[f"{kw}PaletteColorLookupTableData"]
    return ds


def test_per_frame_rescale_overrides_shared(corpus: Path) -> None:
    base = _grayscale_enhanced(corpus)
    per_frame = copy.deepcopy(base)
    item = Dataset()
    item.RescaleIntercept = "-924"
    item.RescaleSlope = "1"
    item.RescaleType = "HU"
    per_frame.PerFrameFunctionalGroupsSequence[1].PixelValueTransformationSequence = [item]
    assert float(frame_attributes(per_frame, 1).RescaleIntercept) == -924
    assert float(frame_attributes(per_frame, 0).RescaleIntercept) == -1024
    shifted_shared = copy.deepcopy(base)
    pvt = shifted_shared.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    pvt.RescaleIntercept = "-924"
    a = np.asarray(render(per_frame, frame=1, sheet=False).image)
    b = np.asarray(render(shifted_shared, frame=1, sheet=False).image)
    c = np.asarray(render(base, frame=1, sheet=False).image)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.mean() > c.mean()  # +100 HU is brighter under the same window


def test_supplemental_palette_colours_only_its_range(rendered_corpus: dict[str, Rendered]) -> None:
    """eCT_Supplemental carries a Supplemental Palette Color LUT (PS3.3 C.7.9)."""
    rgb = np.asarray(rendered_corpus["enhanced_ct_2frames.dcm"].image, dtype=np.int16)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    assert (spread > 60).mean() > 0.05  # real colour
    assert (spread == 0).mean() > 0.2  # the rest is gray


# ----------------------------------------------------------------------------- colour


def test_palette_color_is_rgb_with_colour(rendered_corpus: dict[str, Rendered]) -> None:
    for image in (
        rendered_corpus["us_palette_color.dcm"].image,
        render(load(BUNDLED_DIR / "examples_palette.dcm")).image,
    ):
        assert image.mode == "RGB"
        rgb = np.asarray(image, dtype=np.int16)
        assert (rgb[..., 2] - rgb[..., 0] > 40).sum() > 1000  # the blue header bar


@pytest.mark.parametrize("name", ["us_ybr_rct_j2k.dcm", "rgb_planar_config1.dcm"])
def test_colour_doppler_has_red(rendered_corpus: dict[str, Rendered], name: str) -> None:
    rgb = np.asarray(rendered_corpus[name].image, dtype=np.int16)
    red = (rgb[..., 0] > 150) & (rgb[..., 0] - rgb[..., 2] > 100)
    assert red.sum() > 200


def test_planar_configuration_is_undone(rendered_corpus: dict[str, Rendered]) -> None:
    """With Planar Configuration 1 mis-handled the image shows three tiled gray copies."""
    rgb = np.asarray(rendered_corpus["rgb_planar_config1.dcm"].image, dtype=np.int16)
    blue = (rgb[..., 2] > 150) & (rgb[..., 2] - rgb[..., 0] > 100)
    assert blue.sum() > 200


#: The 100×100 stripe pattern in its many encodings (the 256² SC_rgb_jpeg* are other images).
SC_STRIPES = [
    n
    for n in BUNDLED
    if n.startswith(("SC_rgb", "SC_ybr"))
    and "small" not in n
    and n not in ("SC_rgb_jpeg.dcm", "SC_rgb_jpeg_app14_dcmd.dcm", "SC_rgb_jpeg_dcmd.dcm")
]


@pytest.mark.parametrize("name", SC_STRIPES)
def test_colour_stripes_are_right(name: str) -> None:
    """pydicom's SC_rgb_* test images: red, green and blue stripes, whatever the encoding."""
    r = render(load(BUNDLED_DIR / name), frame=0, sheet=False)
    rgb = np.asarray(r.image, dtype=np.int16)
    for row, channel in ((5, 0), (25, 1), (45, 2)):
        pixel = rgb[row, 50]
        others = [pixel[c] for c in range(3) if c != channel]
        assert pixel[channel] > 200, (name, row, pixel)
        assert max(others) < 60, (name, row, pixel)


# ----------------------------------------------------------------------------- multi-frame


def test_only_needed_frames_are_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = dicom_render.decode_frame

    def counting(ds: Dataset, index: int) -> tuple[np.ndarray, str]:
        calls.append(index)
        return original(ds, index)

    monkeypatch.setattr(dicom_render, "decode_frame", counting)
    ds = load(BUNDLED_DIR / "examples_ybr_color.dcm")
    r = render(ds, sheet=False)
    assert calls == [15]
    assert r.frames == 30
    assert r.frame_index == 15
    assert r.contact_sheet is None
    calls.clear()
    r = render(ds)
    assert sorted(calls) == list(range(30))
    assert r.contact_sheet is not None
    assert r.contact_sheet.mode == "RGB"


def test_contact_sheet_samples_at_most_thirty_frames() -> None:
    assert sample_frames(1) == [0]
    assert sample_frames(30) == list(range(30))
    picked = sample_frames(300)
    assert len(picked) == 30
    assert picked[0] == 0
    assert picked[-1] == 299


def test_explicit_frame_out_of_range_is_classified() -> None:
    ds = load(BUNDLED_DIR / "examples_ybr_color.dcm")
    with pytest.raises(ImagingError) as err:
        render(ds, frame=30)
    assert err.value.reason is Reason.UNSUPPORTED


# ----------------------------------------------------------------------------- VOI maths


def test_linear_window_matches_ps3_3_c_11_2_1_2() -> None:
    x = np.array([-1000.0, 39.5 - 199.5, 40.0, 39.5 + 199.5 + 0.01, 1000.0])
    y = voi_window(x, Window(40.0, 400.0))
    assert y[0] == 0.0
    assert y[1] == 0.0
    assert y[-1] == 1.0
    assert y[-2] == 1.0
    assert abs(y[2] - (0.5 / 399 + 0.5)) < 1e-9


def test_linear_exact_and_sigmoid() -> None:
    assert voi_window(np.array([40.0]), Window(40.0, 400.0, "LINEAR_EXACT"))[0] == 0.5
    assert voi_window(np.array([-160.0]), Window(40.0, 400.0, "LINEAR_EXACT"))[0] == 0.0
    assert abs(voi_window(np.array([40.0]), Window(40.0, 400.0, "SIGMOID"))[0] - 0.5) < 1e-12
    s = voi_window(np.array([-1e6, 1e6]), Window(40.0, 400.0, "SIGMOID"))
    assert s[0] < 1e-6
    assert s[1] > 1 - 1e-6


def test_percentile_window_is_robust() -> None:
    values = np.concatenate([np.linspace(0, 100, 10_000), [1e6]])
    w = percentile_window(values)
    assert w is not None
    assert w.center + w.width / 2 < 200


def test_inverse_on_monochrome1_is_one_inversion() -> None:
    ds = Dataset()
    ds.PresentationLUTShape = "INVERSE"
    assert presentation_inverts(ds, "MONOCHROME1") is True
    assert presentation_inverts(ds, "MONOCHROME2") is True
    ds.PresentationLUTShape = "IDENTITY"
    assert presentation_inverts(ds, "MONOCHROME2") is False


def test_window_presets() -> None:
    assert window_presets["lung"] == (-600.0, 1500.0)
    assert window_presets["brain"] == (40.0, 80.0)
    assert set(window_presets) == {
        "brain", "subdural", "stroke", "lung", "mediastinum", "abdomen", "liver", "bone"
    }  # fmt: skip


def test_gdcm_is_the_preferred_decoder() -> None:
    available = list(get_decoder(JPEG2000Lossless)._available)
    assert available[0] == "gdcm"
    assert available.index("pylibjpeg") < available.index("pillow")
    # 8-bit JPEG: Pillow alone (GDCM's IJG codec aborts the process on some corrupt streams)
    assert list(get_decoder(JPEGBaseline8Bit)._available) == ["pillow"]
    assert "pylibjpeg" not in get_decoder(JPEGBaseline8Bit)._available  # no GPL libjpeg


# ----------------------------------------------------------------------------- load


def test_photo_is_unsupported_even_though_force_reads_it() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(buf, "JPEG")
    with pytest.raises(ImagingError) as err:
        load(buf.getvalue())
    assert err.value.reason is Reason.UNSUPPORTED


@pytest.mark.parametrize("blob", [b"", b"hello", os.urandom(4096), b"\0" * 128 + b"DICM"])
def test_garbage_is_classified(blob: bytes) -> None:
    with pytest.raises(ImagingError) as err:
        render(load(blob))
    assert err.value.reason in (Reason.UNSUPPORTED, Reason.CORRUPT, Reason.NO_PIXEL_DATA)


def test_truncated_file_is_corrupt() -> None:
    data = (BUNDLED_DIR / "CT_small.dcm").read_bytes()
    with pytest.raises(ImagingError) as err:
        render(load(data[: len(data) - 5000]))
    assert err.value.reason is Reason.CORRUPT


def test_report_has_no_pixel_data() -> None:
    with pytest.raises(ImagingError) as err:
        load(BUNDLED_DIR / "test-SR.dcm")
    assert err.value.reason is Reason.NO_PIXEL_DATA


_SMALL = (BUNDLED_DIR / "MR_small_RLE.dcm").read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=len(_SMALL)),
    flips=st.lists(st.tuples(st.integers(0, len(_SMALL) - 1), st.integers(0, 255)), max_size=8),
)
def test_mutated_input_never_crashes(cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(_SMALL[:cut])
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    outcome: Rendered | ImagingError
    try:
        outcome = render(load(bytes(data)), sheet=False)
    except ImagingError as exc:
        outcome = exc
    if isinstance(outcome, ImagingError):
        assert isinstance(outcome.reason, Reason)
    else:
        _check_rendered(outcome)


# ----------------------------------------------------------------------------- series


def test_render_series_reads_only_sampled_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (BUNDLED_DIR / "CT_small.dcm").read_bytes()
    loads: list[int] = []
    original = dicom_render.load

    def counting(src: bytes) -> Dataset:
        loads.append(1)
        return original(src)

    monkeypatch.setattr(dicom_render, "load", counting)
    r = dicom_render.render_series([data] * 100)
    assert r.frames == 100
    assert r.frame_index == 50
    assert r.contact_sheet is not None
    assert len(loads) <= 31  # 30 sampled instances + the middle one


def test_frames_without_voi_share_the_representative_window(corpus: Path) -> None:
    """A contact sheet / series uses one window, not a percentile window per tile."""
    ds = load(corpus / "enhanced_mr_10frames.dcm")
    middle = render(ds, sheet=False)
    assert middle.window is not None
    other = render(ds, frame=0, sheet=False, default_window=middle.window)
    assert other.window == middle.window
    own = render(ds, frame=0, sheet=False)
    assert own.window != middle.window  # its own percentile window would differ


def test_segmented_palette_matches_plain_palette() -> None:
    """PS3.3 C.7.9.2: the same palette as discrete segments renders identically."""
    plain = load(BUNDLED_DIR / "examples_palette.dcm")
    segmented = copy.deepcopy(plain)
    for colour in ("Red", "Green", "Blue"):
        data = np.frombuffer(plain[f"{colour}PaletteColorLookupTableData"].value, "<u2")
        words = np.concatenate([[0, data.size], data]).astype("<u2")  # one discrete segment
        del segmented[f"{colour}PaletteColorLookupTableData"]
        segmented.add_new(f"Segmented{colour}PaletteColorLookupTableData", "OW", words.tobytes())
    a = np.asarray(render(plain).image)
    b = np.asarray(render(segmented).image)
    assert a.shape == b.shape
    assert np.array_equal(a, b)


def test_decoder_panic_is_classified(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rust decoders (pylibjpeg-rle) panic with a BaseException subclass on bad input."""

    class PanicException(BaseException):
        pass

    def panic(*args: object, **kwargs: object) -> None:
        raise PanicException("index out of bounds")

    from pydicom.pixels.decoders.base import Decoder

    monkeypatch.setattr(Decoder, "as_array", panic)
    with pytest.raises(ImagingError) as err:
        render(load(BUNDLED_DIR / "MR_small_RLE.dcm"))
    assert err.value.reason is Reason.CORRUPT


def _patched(name: str, old: bytes, new: bytes) -> bytes:
    data = (BUNDLED_DIR / name).read_bytes()
    assert data.count(old) == 1
    return data.replace(old, new)


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        # SOF0 precision 8 → 114: GDCM writes past its buffer and segfaults on this one
        ("SC_rgb_jpeg_dcmtk.dcm", b"\xff\xc0\x00\x11\x08", b"\xff\xc0\x00\x11\x72"),
        # SOF0 width 100 → 4096
        (
            "SC_rgb_jpeg_dcmtk.dcm",
            b"\xff\xc0\x00\x11\x08\x00\x64\x00\x64",
            b"\xff\xc0\x00\x11\x08\x00\x64\x10\x00",
        ),
    ],
)  # fmt: skip
def test_forged_codestream_header_is_refused_before_decoding(
    name: str, old: bytes, new: bytes
) -> None:
    with pytest.raises(ImagingError) as err:
        render(load(_patched(name, old, new)))
    assert err.value.reason is Reason.CORRUPT


def test_forged_j2k_size_is_refused(corpus: Path) -> None:
    data = (corpus / "us_ybr_rct_j2k.dcm").read_bytes()
    siz = data.find(b"\xff\x4f\xff\x51")
    forged = bytearray(data)
    forged[siz + 8 : siz + 12] = (4096).to_bytes(4, "big")  # Xsiz
    with pytest.raises(ImagingError) as err:
        render(load(bytes(forged)))
    assert err.value.reason is Reason.CORRUPT


def test_ybr_ict_jpeg2000_comes_out_as_rgb() -> None:
    """YBR_ICT (PS3.3 C.7.6.3.1.2): the irreversible colour transform lives in the J2K stream."""
    openjpeg = pytest.importorskip("openjpeg")
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000

    ds = load(BUNDLED_DIR / "SC_rgb_rle.dcm")
    ds.decompress()
    stream = openjpeg.encode(
        ds.pixel_array, photometric_interpretation=1, use_mct=True, compression_ratios=[5]
    )
    cod = stream.find(b"\xff\x52")
    assert stream[cod + 8] == 1  # multiple component transform on
    ds.PixelData = encapsulate([stream])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEG2000
    ds.PhotometricInterpretation = "YBR_ICT"
    rgb = np.asarray(render(ds).image, dtype=np.int16)
    for row, channel in ((5, 0), (25, 1), (45, 2)):
        assert rgb[row, 50, channel] > 200
        assert max(rgb[row, 50, c] for c in range(3) if c != channel) < 60
