"""What a person reads on a job that did not simply succeed: the engine's messages.

Each one says what happened, whether money was spent, and what to do next, in words a
user can act on. Kept apart from the state machine so the two can be read separately.
"""

from __future__ import annotations

import re

from django.utils import timezone

from jobs.models import UpscaleJob
from jobs.providers.base import ProviderError
from jobs.providers.registry import get_provider_class

# Adapters end transient errors with a promise that is only true while we keep trying.
_PROMISE = re.compile(r"[;,.]?\s*we will try again shortly\.?\s*$", re.IGNORECASE)


def provider_name(job: UpscaleJob) -> str:
    try:
        return get_provider_class(job.provider).name
    except LookupError:
        return job.provider


def final(message: str) -> str:
    """An adapter's message without its promise to try again (we are not going to)."""
    return _PROMISE.sub("", message).rstrip(". ")


def last_answer(error: ProviderError) -> str:
    status = f", HTTP {error.status_code}" if error.status_code else ""
    return f"last answer: {final(error.message)}{status}"


def duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} seconds"


# ----- a create whose outcome is unknown ----------------------------------------------------
NOT_RESENT = "It was not sent again, to avoid paying twice."


def unknown_help(job: UpscaleJob) -> str:
    """What to do about a job whose create may or may not have reached the provider."""
    sent = job.create_sent_at or job.updated_at or timezone.now()
    return (
        f"Look for it in your {provider_name(job)} dashboard (sent {sent:%Y-%m-%d %H:%M} UTC, "
        f"reference {job.public_id}). If it is there, it was charged: take the result from "
        "there. If it is not, nothing was charged and you can press Retry."
    )


def unknown_after_error(job: UpscaleJob, error: ProviderError) -> str:
    return f"{error.message} {NOT_RESENT} {unknown_help(job)}"


def unknown_after_crash(job: UpscaleJob) -> str:
    return (
        f"The worker stopped while this job was being sent to {provider_name(job)}, so we "
        f"cannot tell whether it was received. {NOT_RESENT} {unknown_help(job)}"
    )


def unknown_after_bug(job: UpscaleJob, what: str) -> str:
    return (
        f"An internal error ({what}) stopped this job after it was sent to "
        f"{provider_name(job)}, so we cannot tell whether it was received. {NOT_RESENT} "
        f"{unknown_help(job)}"
    )


# ----- failures -------------------------------------------------------------------------------
def internal_error(what: str) -> str:
    return (
        f"An internal error stopped this job ({what}). Retry it; if it happens again, "
        "tell your administrator."
    )


def crash_loop(job: UpscaleJob) -> str:
    return (
        f"Gave up after {job.attempts - 1} attempts: each time, the worker stopped before "
        f"the job reached {provider_name(job)}, so nothing was sent or charged. Retry the "
        "job; if this happens again, ask your administrator to check the worker's logs."
    )


def read_crash(job: UpscaleJob, doing: str) -> str:
    return (
        f"The worker stopped {job.read_failures} times while {doing} this job, so it was "
        f"given up. {provider_name(job)} may have finished it: check there before retrying."
    )


def gave_up_sending(job: UpscaleJob, error: ProviderError) -> str:
    return (
        f"{provider_name(job)} turned this job away on all {job.attempts} attempts "
        f"({last_answer(error)}). It was never accepted, so nothing was charged. Retry the "
        "job later."
    )


def gave_up_polling(job: UpscaleJob, error: ProviderError, tries: int) -> str:
    name = provider_name(job)
    return (
        f"Could not get this job's status from {name} after {tries} tries "
        f"({last_answer(error)}). {name} may still finish it: check there before retrying."
    )


def gave_up_waiting(job: UpscaleJob, waited_seconds: float, canceled: bool) -> str:
    name = provider_name(job)
    note = (
        f"It was canceled at {name}, so it will not be charged further."
        if canceled
        else f"{name} may still finish it: check there before retrying."
    )
    return f"{name} had not finished after {duration(waited_seconds)}, so we stopped. {note}"


def result_expired(job: UpscaleJob, reason: str) -> str:
    return (
        f"{reason} The result is lost. {provider_name(job)} charged for the job; retry it "
        "to upscale the image again."
    )


def download_failed(job: UpscaleJob, reason: str, tries: int | None) -> str:
    gave_up = f" Gave up after {tries} tries." if tries else ""
    return (
        f"{provider_name(job)} finished the job, but its result could not be downloaded: "
        f"{reason}{gave_up}"
    )


def no_results(job: UpscaleJob) -> str:
    return f"{provider_name(job)} reported the job as done but sent no image."


def failed_without_reason(job: UpscaleJob) -> str:
    return f"{provider_name(job)} reported the job as failed without saying why."


def canceled_here_only(job: UpscaleJob, who: str) -> str:
    name = provider_name(job)
    return (
        f"Canceled here by {who}. {name} has no cancel call, so it may still finish the job "
        "and charge for it; this app no longer follows it."
    )


def throttled(busy: int, limit: int) -> str:
    return (
        f"Waiting for a free slot: this provider account allows {limit} job(s) at the "
        f"provider at once, and {busy} are there now."
    )
