"""The week's roster as a picture: per specialty a grid of days × hours with names.

Pure and synchronous (``Coverage`` in, PNG bytes out); callers in the event loop run it in
a thread. matplotlib with the Agg backend through the object API (no pyplot state).

Fonts: matplotlib's DejaVu Sans has no Indian scripts, so words are drawn in the reader's
language only when the font covers them, otherwise in English (as ``stats_chart`` does);
a name the font cannot draw is shown as ``#<user id>``. Hours and dates are numerals.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime, time, timedelta
from functools import cache

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.patches import Patch

from bot.cases.coverage import Block, Coverage
from bot.domain import SPECIALTIES
from bot.i18n import N_

FONT = "DejaVu Sans"
DPI = 100
WIDTH_INCHES = 11.0
#: Colour-blind safe (Okabe–Ito), one per specialist in a specialty.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
GAP_COLOUR = "#F4B6B6"
DAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class PictureLabels:
    """Every word in the picture; English unless the reader's language can be drawn."""

    title: str = N_("On-call roster, week of {date}")
    nobody: str = N_("nobody on call")
    no_roster: str = N_("No specialties to show: nobody offers a specialty yet.")
    mon: str = N_("Mon")
    tue: str = N_("Tue")
    wed: str = N_("Wed")
    thu: str = N_("Thu")
    fri: str = N_("Fri")
    sat: str = N_("Sat")
    sun: str = N_("Sun")
    specialties: tuple[tuple[str, str], ...] = ()

    def day(self, weekday: int) -> str:
        return str(getattr(self, DAYS_EN[weekday].lower()))

    def drawable(self) -> PictureLabels:
        """These labels if the font has every character, else English ones."""
        text = "".join(str(getattr(self, f.name)) for f in fields(self))
        text += "".join(label for _, label in self.specialties)
        if drawable(text):
            return self
        english = tuple((code, SPECIALTIES.get(code, code)) for code, _ in self.specialties)
        return PictureLabels(specialties=english)


@cache
def _charmap() -> frozenset[int]:
    path = font_manager.findfont(font_manager.FontProperties(family=FONT))
    return frozenset(FT2Font(path).get_charmap())


def drawable(text: str) -> bool:
    """Whether the picture's font has a glyph for every visible character of ``text``."""
    covered = _charmap()
    return all(ord(ch) in covered for ch in text if not ch.isspace())


def localised(translate: Callable[[str], str], specialties: dict[str, str]) -> PictureLabels:
    """Labels through ``translate`` (e.g. ``tr._``); ``specialties`` maps code → label."""
    english = PictureLabels()
    words = {
        f.name: translate(getattr(english, f.name))
        for f in fields(english)
        if f.name != "specialties"
    }
    pairs = tuple((code, translate(label)) for code, label in specialties.items())
    return replace(english, **words, specialties=pairs)


def render(coverage: Coverage, labels: PictureLabels | None = None) -> bytes:
    """A PNG: one panel per specialty, a row per day, the hours across, names in the bars."""
    labels = (labels or PictureLabels()).drawable()
    names = dict(labels.specialties)
    panels = coverage.specialties
    height = 0.9 + 2.9 * max(1, len(panels))
    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    start = coverage.start
    figure.suptitle(labels.title.format(date=f"{start:%d/%m/%Y}"), fontsize=16, x=0.01, ha="left")
    if not panels:
        axes = figure.subplots()
        axes.axis("off")
        axes.text(0.5, 0.5, labels.no_roster, ha="center", va="center", fontsize=14)
    else:
        grid = figure.subplots(len(panels), 1, squeeze=False)
        for axes, code in zip(grid[:, 0], panels, strict=True):
            _panel(axes, coverage, code, names.get(code, code), labels)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def _panel(axes: Axes, coverage: Coverage, code: str, title: str, labels: PictureLabels) -> None:
    days = [coverage.start.date() + timedelta(days=n) for n in range(7)]
    colours: dict[int, str] = {}
    shown: dict[int, str] = {}
    for block in coverage.blocks.get(code, []):
        if block.specialist_id not in colours:
            colours[block.specialist_id] = COLOURS[len(colours) % len(COLOURS)]
            shown[block.specialist_id] = (
                block.name if drawable(block.name) else f"#{block.specialist_id}"
            )
    for row, day in enumerate(days):
        day_start = datetime.combine(day, time())
        day_end = day_start + timedelta(days=1)
        for gap in coverage.gaps.get(code, []):
            left, right = max(gap.start, day_start), min(gap.end, day_end)
            if left < right:
                axes.barh(
                    row,
                    _hours(right - left),
                    left=_hours(left - day_start),
                    height=0.96,
                    color=GAP_COLOUR,
                    hatch="//",
                    edgecolor="#C44E52",
                    linewidth=0,
                )
        pieces = _clip(coverage.blocks.get(code, []), day_start, day_end)
        lanes: list[datetime] = []  # end of the last piece in each lane
        placed: list[tuple[int, Block, datetime, datetime]] = []
        for block, left, right in pieces:
            lane = next((i for i, end in enumerate(lanes) if end <= left), len(lanes))
            if lane == len(lanes):
                lanes.append(right)
            else:
                lanes[lane] = right
            placed.append((lane, block, left, right))
        count = max(1, len(lanes))
        lane_height = 0.86 / count
        for lane, block, left, right in placed:
            centre = row - 0.43 + lane_height * (lane + 0.5)
            width = _hours(right - left)
            axes.barh(
                centre,
                width,
                left=_hours(left - day_start),
                height=lane_height * 0.92,
                color=colours[block.specialist_id],
                edgecolor="white",
                linewidth=0.5,
            )
            text = shown[block.specialist_id]
            if width * 7.5 >= len(text) * (1 + 0.25 * (count - 1)):  # roughly fits
                axes.text(
                    _hours(left - day_start) + width / 2,
                    centre,
                    text,
                    ha="center",
                    va="center",
                    fontsize=max(6.5, 10 - 1.5 * (count - 1)),
                    color="white",
                    clip_on=True,
                )
    axes.set_xlim(0, 24)
    axes.set_ylim(6.6, -0.6)
    axes.set_xticks(range(0, 25, 2), [f"{h:02d}" for h in range(0, 25, 2)])
    axes.set_yticks(range(7), [f"{labels.day(d.weekday())} {d:%d/%m}" for d in days], fontsize=10)
    axes.grid(axis="x", color="#DDDDDD", linewidth=0.6)
    axes.set_axisbelow(True)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_title(title, fontsize=13, loc="left")
    handles = [Patch(color=colours[uid], label=shown[uid]) for uid in colours]
    handles.append(
        Patch(facecolor=GAP_COLOUR, hatch="//", edgecolor="#C44E52", label=labels.nobody)
    )
    axes.legend(
        handles=handles,
        fontsize=9,
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )


def _clip(
    blocks: list[Block], day_start: datetime, day_end: datetime
) -> list[tuple[Block, datetime, datetime]]:
    pieces = []
    for block in blocks:
        left, right = max(block.start, day_start), min(block.end, day_end)
        if left < right:
            pieces.append((block, left, right))
    pieces.sort(key=lambda p: (p[1], p[2]))
    return pieces


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600
