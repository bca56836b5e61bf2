"""Comparison boards: one image (or a batch) sent to several providers, side by side.

Reading a board and writing its verdict (the winner a team member picks, with a note)
live here, so the views stay thin and the verdict has one writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch

from jobs import ledger
from jobs.models import Batch, ResultImage, SourceImage, UpscaleJob
from jobs.providers.base import Cost, Option
from jobs.providers.registry import get_provider_class

NOTE_MAX = 2000


class VerdictError(ValueError):
    """The winner could not be recorded; the message is for the user."""


@dataclass
class Entry:
    """One provider's go at one image: the job, its usable results, and what it cost."""

    job: UpscaleJob
    results: list[ResultImage]
    cost: Cost | None

    @property
    def provider_name(self) -> str:
        return provider_name(self.job.provider)

    @property
    def settings(self) -> list[tuple[str, str]]:
        return describe_options(self.job.provider, self.job.options)

    @property
    def output_bytes(self) -> int:
        return sum(r.size_bytes for r in self.results)


@dataclass
class Row:
    """All providers' results for one source image."""

    source: SourceImage | None
    entries: list[Entry] = field(default_factory=list)

    @property
    def first_result(self) -> ResultImage | None:
        return next((r for entry in self.entries for r in entry.results), None)


@dataclass
class Board:
    batch: Batch
    rows: list[Row]

    @property
    def jobs(self) -> list[UpscaleJob]:
        return [entry.job for row in self.rows for entry in row.entries]

    @property
    def all_finished(self) -> bool:
        return all(job.is_finished for job in self.jobs)

    @property
    def total_micros(self) -> int:
        return sum(e.cost.usd_micros for row in self.rows for e in row.entries if e.cost)

    def result_ids(self) -> set[int]:
        return {r.pk for row in self.rows for e in row.entries for r in e.results}


def provider_name(slug: str) -> str:
    try:
        return get_provider_class(slug).name
    except LookupError:
        return slug


def describe_options(slug: str, options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The options a job ran with, labelled as the provider names them; unset ones skipped."""
    try:
        defined: tuple[Option, ...] = get_provider_class(slug).options
    except LookupError:
        return [(k, str(v)) for k, v in options.items()]
    return [
        (o.label, str(options[o.name])) for o in defined if options.get(o.name) not in (None, "")
    ]


def board_jobs(batch: Batch) -> list[UpscaleJob]:
    usable = ResultImage.objects.filter(is_safe=True).exclude(file="").order_by("index")
    return list(
        batch.jobs.select_related("source", "created_by")
        .prefetch_related(Prefetch("results", queryset=usable))
        .order_by("id")
    )


def build_board(batch: Batch, *, with_costs: bool = True) -> Board:
    """Rows per source image in upload order; within a row, providers in the order chosen."""
    rows: dict[Any, Row] = {}
    for job in board_jobs(batch):
        key = job.source_id or f"ref-{job.pk}"
        row = rows.setdefault(key, Row(source=job.source))
        cost = ledger.job_spend(job) if with_costs and job.is_finished else None
        row.entries.append(Entry(job=job, results=list(job.results.all()), cost=cost))
    return Board(batch=batch, rows=list(rows.values()))


def set_verdict(
    batch: Batch, user: AbstractBaseUser, *, winner: ResultImage | None, note: str
) -> Batch:
    """Record which result won and why. `winner=None` clears the pick but keeps the note."""
    if winner is not None and not _belongs(winner, batch):
        raise VerdictError("That result is not part of this comparison.")
    if winner is None:
        batch.winner_chosen_by = None
    elif winner.pk != batch.winner_id:  # saving only the note keeps who picked the winner
        batch.winner_chosen_by = user
    batch.winner = winner
    batch.winner_note = note.strip()[:NOTE_MAX]
    batch.save(update_fields=["winner", "winner_note", "winner_chosen_by"])
    return batch


def _belongs(result: ResultImage, batch: Batch) -> bool:
    usable = bool(result.file) and result.is_safe
    return usable and result.team_id == batch.team_id and result.job.batch_id == batch.pk
