"""The statistics chart: cases per day stacked by status, and turnaround bars.

Pure and synchronous (bytes out, no database, no chat); callers in the event loop run it
in a thread. matplotlib is used with the Agg backend, selected at import (pyplot is never
used: the object API keeps no global figure state, so threads can render at once).

Fonts: matplotlib ships DejaVu Sans, which has no Indian scripts. Labels are drawn in the
reader's language only when DejaVu Sans covers every character (English, and any
Latin-script language); otherwise the chart falls back to the English labels. Digits and
dates are plain numerals (``28/11``), which every reader understands.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from functools import cache

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.ticker import MaxNLocator

from bot.cases.statistics import Statistics
from bot.i18n import N_

FONT = "DejaVu Sans"
#: 1024 × 1280 px (4:5, fills a phone screen), within the 1280 px budget and Telegram's limits.
SIZE_INCHES = (8.0, 10.0)
DPI = 128

#: Status groups drawn as stacked bars: key, statuses, colour (colour-blind safe).
GROUPS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("waiting", ("submitted", "offered"), "#E69F00"),
    ("with_specialist", ("accepted", "awaiting_info"), "#56B4E9"),
    ("reported", ("reported",), "#CC79A7"),
    ("done", ("acknowledged", "closed"), "#009E73"),
    ("cancelled", ("cancelled",), "#999999"),
)


@dataclass(frozen=True)
class ChartLabels:
    """Every word on the chart; English unless the reader's language can be drawn."""

    title_days: str = N_("Cases submitted per day")
    cases: str = N_("cases")
    waiting: str = N_("waiting")
    with_specialist: str = N_("with specialist")
    reported: str = N_("reported")
    done: str = N_("acknowledged / closed")
    cancelled: str = N_("cancelled")
    title_turnaround: str = N_("Turnaround, hours (median and 90th percentile)")
    median: str = N_("median")
    p90: str = N_("90th percentile")
    hours: str = N_("hours")
    submit_accept: str = N_("submission → accept")
    accept_report: str = N_("accept → report")
    report_ack: str = N_("report → acknowledge")
    submit_report: str = N_("submission → report")
    no_data: str = N_("no data")

    def drawable(self) -> ChartLabels:
        """These labels if the chart font has every character, else the English ones."""
        covered = _charmap()
        text = "".join(getattr(self, f.name) for f in fields(self))
        if all(ord(ch) in covered for ch in text if not ch.isspace()):
            return self
        return ChartLabels()


@cache
def _charmap() -> frozenset[int]:
    path = font_manager.findfont(font_manager.FontProperties(family=FONT))
    return frozenset(FT2Font(path).get_charmap())


def render(stats: Statistics, labels: ChartLabels | None = None) -> bytes:
    """A PNG of ``stats``: per-day stacked bars on top, turnaround bars below."""
    labels = (labels or ChartLabels()).drawable()
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    top, bottom = figure.subplots(2, 1, height_ratios=(3, 2))
    _days(top, stats, labels)
    _turnaround(bottom, stats, labels)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def _style(axes: Axes) -> None:
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(labelsize=13)


def _days(axes: Axes, stats: Statistics, labels: ChartLabels) -> None:
    _style(axes)
    days = stats.per_day
    positions = list(range(len(days)))
    bottoms = [0] * len(days)
    for key, statuses, colour in GROUPS:
        heights = [sum(n for s, n in day.by_status if s in statuses) for day in days]
        if any(heights):
            axes.bar(
                positions,
                heights,
                bottom=bottoms,
                color=colour,
                label=getattr(labels, key),
                width=0.8,
            )
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    step = 1 if len(days) <= 10 else 5
    ticks = [i for i in positions if (len(days) - 1 - i) % step == 0]
    axes.set_xticks(ticks, [f"{days[i].day:%d/%m}" for i in ticks])
    axes.set_title(labels.title_days, fontsize=17, loc="left")
    axes.set_ylabel(labels.cases, fontsize=14)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if max(bottoms, default=0) == 0:
        axes.set_ylim(0, 1)
        axes.text(0.5, 0.5, labels.no_data, ha="center", fontsize=15, transform=axes.transAxes)
    else:
        axes.set_ylim(0, max(5, max(bottoms) * 1.05))  # one case is not a tall bar
        axes.legend(
            fontsize=12, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncols=3
        )


def _turnaround(axes: Axes, stats: Statistics, labels: ChartLabels) -> None:
    _style(axes)
    legs = list(reversed(stats.turnaround))
    rows = list(range(len(legs)))
    medians = [t.median.total_seconds() / 3600 if t.median else 0.0 for t in legs]
    p90s = [t.p90.total_seconds() / 3600 if t.p90 else 0.0 for t in legs]
    height = 0.38
    axes.barh([r + height / 2 for r in rows], medians, height, color="#0072B2", label=labels.median)
    axes.barh([r - height / 2 for r in rows], p90s, height, color="#56B4E9", label=labels.p90)
    for row, (median, p90, leg) in enumerate(zip(medians, p90s, legs, strict=True)):
        if leg.count == 0:
            axes.text(0, row, " " + labels.no_data, va="center", fontsize=12)
            continue
        axes.text(median, row + height / 2, f" {median:.1f}", va="center", fontsize=12)
        axes.text(p90, row - height / 2, f" {p90:.1f}", va="center", fontsize=12)
    axes.set_yticks(rows, [getattr(labels, t.leg) for t in legs])
    axes.set_xlabel(labels.hours, fontsize=14)
    axes.set_title(labels.title_turnaround, fontsize=17, loc="left")
    top = max([*p90s, *medians, 0.0])
    axes.set_xlim(0, top * 1.2 if top > 0 else 1)
    axes.legend(
        fontsize=12, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2
    )


def localised(translate: Callable[[str], str]) -> ChartLabels:
    """The labels passed through ``translate`` (a gettext callable such as ``tr._``)."""
    english = ChartLabels()
    return replace(
        english, **{f.name: translate(getattr(english, f.name)) for f in fields(english)}
    )
