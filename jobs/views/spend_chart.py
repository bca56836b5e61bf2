"""Geometry of the spend-over-time chart: stacked bars per day, one colour per provider.

Computed here and drawn as inline SVG by the template, so the page needs no chart library
and the chart is there without JavaScript. Every bar segment links to the jobs behind it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.urls import reverse

from jobs.providers.registry import PROVIDERS
from jobs.spend_report import Day, Period
from jobs.templatetags.money import usd

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 34
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_X_LABELS = 10
TICKS = 4  # about four steps up the axis
# Distinct hues in a fixed order, so a provider keeps its colour from one month to the next.
COLOURS = {
    "aimlapi": "#4f46e5",
    "ideogram": "#059669",
    "imagineapi": "#d97706",
    "useapi": "#db2777",
    "uwear": "#0891b2",
    "local": "#6b7280",
}
OTHER_COLOUR = "#9ca3af"


@dataclass
class Segment:
    provider: str
    name: str
    y: float
    height: float
    colour: str
    usd_micros: int
    href: str


@dataclass
class Bar:
    x: float
    width: float
    title: str
    href: str
    segments: list[Segment] = field(default_factory=list)


@dataclass
class Chart:
    bars: list[Bar]
    y_ticks: list[tuple[float, str]]
    x_labels: list[tuple[float, str]]
    legend: list[tuple[str, str]]
    summary: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM

    @property
    def is_empty(self) -> bool:
        return not any(bar.segments for bar in self.bars)


def build(days: list[Day], period: Period) -> Chart:
    tick = nice_step(max((day.usd_micros for day in days), default=0) / TICKS)
    top = tick * max(1, math.ceil(max((d.usd_micros for d in days), default=0) / tick))
    slot = PLOT_W / max(len(days), 1)
    present = {slug for day in days for slug, amount in day.by_provider.items() if amount > 0}
    providers = [slug for slug in _order() if slug in present]
    providers += sorted(present - set(providers))
    bars = [_bar(day, index, slot, top, providers) for index, day in enumerate(days)]
    total = sum(day.usd_micros for day in days)
    return Chart(
        bars=bars,
        y_ticks=[(_y(value, top), usd(value)) for value in range(0, top + 1, tick)],
        x_labels=_x_labels(days, slot),
        legend=[(COLOURS.get(slug, OTHER_COLOUR), _name(slug)) for slug in providers],
        summary=f"Spend per day from {period.start:%b %-d} to {period.end:%b %-d, %Y}: "
        f"{usd(total)} in total.",
    )


def _bar(day: Day, index: int, slot: float, top: int, providers: list[str]) -> Bar:
    bar = Bar(
        x=LEFT + index * slot + slot * 0.15,
        width=max(slot * 0.7, 1.0),
        title=f"{day.day:%a %b %-d}: {usd(day.usd_micros)}",
        href=_jobs_url(day),
    )
    stacked = 0
    for slug in providers:
        amount = day.by_provider.get(slug, 0)
        if amount <= 0:
            continue  # a day of refunds only has nothing to stack
        y_top = _y(stacked + amount, top)
        height = _y(stacked, top) - y_top
        bar.segments.append(
            Segment(
                slug,
                _name(slug),
                y_top,
                height,
                COLOURS.get(slug, OTHER_COLOUR),
                amount,
                _jobs_url(day, slug),
            )
        )
        stacked += amount
    return bar


def _x_labels(days: list[Day], slot: float) -> list[tuple[float, str]]:
    step = max(1, math.ceil(len(days) / MAX_X_LABELS))
    return [
        (LEFT + index * slot + slot / 2, f"{day.day:%b %-d}")
        for index, day in enumerate(days)
        if index % step == 0
    ]


def _y(amount: float, top: int) -> float:
    return round(TOP + PLOT_H - PLOT_H * amount / top, 2)


def nice_step(micros: float) -> int:
    """The smallest 1, 2, 2.5 or 5 times 10^n at or above the value (at least a cent):
    axis labels people read at a glance ($0.10, $0.20 ... rather than $0.12, $0.38)."""
    if micros <= 10_000:
        return 10_000
    scale = 10 ** math.floor(math.log10(micros))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * scale >= micros:
            return int(factor * scale)
    return int(10 * scale)


def _jobs_url(day: Day, provider: str = "") -> str:
    params = {"from": day.day.isoformat(), "to": day.day.isoformat()}
    if provider:
        params["provider"] = provider
    return f"{reverse('jobs:job_list')}?{urlencode(params)}"


def _order() -> list[str]:
    return [*COLOURS, *(slug for slug in PROVIDERS if slug not in COLOURS)]


def _name(slug: str) -> str:
    cls = PROVIDERS.get(slug)
    return cls.name if cls else slug
