"""``sampark stats``: a district's statistics from the command line.

Examples::

    sampark stats --district Dharwad
    sampark stats --district Dharwad --days 30 --csv dharwad.csv --chart dharwad.png
    sampark stats            # every district

Prints the summary (English); ``--csv`` writes one row per case of the window without
patient identifiers, ``--chart`` the same PNG coordinators get in the bot.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path

from bot.cases import stats_chart
from bot.cases.statistics import PERIODS, Statistics, StatisticsError, StatisticsService
from bot.clitools import run_cli
from bot.clock import SystemClock
from bot.config import Settings
from bot.storage.database import Database


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of exiting, so ``main`` returns a status."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise StatisticsError(f"{message}\n{self.format_usage().strip()}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sampark stats", description="statistics for coordinators")
    parser.add_argument("--district", help="one district (default: every district)")
    parser.add_argument("--days", type=int, choices=PERIODS, default=PERIODS[0])
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write the CSV export here")
    parser.add_argument("--chart", type=Path, metavar="FILE.png", help="write the chart here")
    return parser


def _hours(value: timedelta | None) -> str:
    return "-" if value is None else f"{value.total_seconds() / 3600:.1f} h"


def describe(figures: Statistics) -> list[str]:
    """The summary as plain English lines."""
    labels = stats_chart.ChartLabels()
    lines = [
        f"{figures.district or 'all districts'}, last {figures.days} days "
        f"({figures.since:%Y-%m-%d %H:%M} to {figures.until:%Y-%m-%d %H:%M} UTC)",
        f"submitted\t{figures.submitted}",
        f"escalated\t{figures.escalated}",
        f"open now\t{figures.open_total}",
    ]
    lines += [f"  {state}\t{n}" for state, n in figures.open_by_state]
    lines += [f"  age {key}\t{n}" for key, n in figures.open_by_age]
    lines.append("turnaround\tmedian\tp90\tcases")
    for leg in figures.turnaround:
        label = getattr(labels, leg.leg).replace("→", "->")
        lines.append(f"  {label}\t{_hours(leg.median)}\t{_hours(leg.p90)}\t{leg.count}")
    reach = figures.reach
    seen = "-" if reach.seen_rate is None else f"{reach.seen_rate:.0%}"
    lines += [
        f"broadcasts\t{reach.broadcasts}",
        f"  alerts\t{reach.alerts}",
        f"  recipients\t{reach.recipients}",
        f"  reached\t{reach.reached}",
        f"  blocked\t{reach.blocked}",
        f"  alerts seen\t{seen}",
    ]
    lines.append("per facility")
    lines += [f"  {name or '(none)'}\t{n}" for name, n in figures.per_facility]
    lines.append("per specialty")
    lines += [f"  {name or '(none)'}\t{n}" for name, n in figures.per_specialty]
    return lines


async def _write(path: Path, data: bytes) -> None:
    try:
        await asyncio.to_thread(path.write_bytes, data)
    except OSError as exc:
        raise StatisticsError(f"cannot write {path}: {exc.strerror or exc}") from None


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings.effective_database_url)
    try:
        await db.prepare()
        service = StatisticsService(db, SystemClock(), settings.roster_timezone)
        figures = await service.compute(args.district, args.days)
        print("\n".join(describe(figures)))
        if args.csv is not None:
            await _write(args.csv, await service.export_csv(args.district, args.days))
            print(f"wrote {args.csv}")
        if args.chart is not None:
            await _write(args.chart, await asyncio.to_thread(stats_chart.render, figures))
            print(f"wrote {args.chart}")
        return 0
    finally:
        await db.dispose()


def main(argv: list[str]) -> int:
    """Entry point of ``sampark stats …``; returns the exit status, never a traceback."""
    return run_cli("stats", _parser(), _run, argv, usage_errors=(StatisticsError,))
