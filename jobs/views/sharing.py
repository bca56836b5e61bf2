"""Share links: the team's side (create, list, revoke) and the public side (the page a
link opens and every image behind it).

Public responses say as little as possible: one 404 for unknown, expired and revoked
links alike, 401 while a password is missing, nothing about the team or who made it, and
images re-encoded without metadata. None of them may be cached or indexed.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import decorator_from_middleware
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from jobs import comparisons, imaging, sharing
from jobs.models import Batch, ResultImage, ShareLink
from jobs.providers.registry import get_provider_class
from jobs.views.pages import team_required

IMAGE_KINDS = frozenset({"thumb", "full", "download", "source"})
PASSWORD_TRIES = 10  # wrong passwords per link before it is locked for a while
PASSWORD_LOCK_SECONDS = 15 * 60
_SESSION_PREFIX = "shared-unlocked:"


# ----- the team's side ------------------------------------------------------------------------
class ShareForm(forms.Form):
    label = forms.CharField(
        required=False, max_length=120, help_text="Only your team sees this, e.g. who it is for."
    )
    expiry = forms.ChoiceField(
        label="Link works for",
        choices=[(key, text) for key, (text, _) in sharing.EXPIRY_CHOICES.items()],
        initial="7d",
    )
    confirm_never = forms.BooleanField(
        required=False, label="Yes, I want a link that never expires (until revoked)"
    )
    password = forms.CharField(
        required=False,
        max_length=128,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Optional. The viewer must type it; we keep only a hash.",
    )
    allow_download = forms.BooleanField(required=False, label="Allow download of the full image")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            data["expires_in"] = sharing.expiry_from_choice(
                data.get("expiry", ""), confirm_never=bool(data.get("confirm_never"))
            )
        except sharing.ShareError as exc:
            raise ValidationError(str(exc)) from None
        return data


def _target(request: HttpRequest, data: Any) -> tuple[ResultImage | None, Batch | None]:
    """The result or board named in the request, of this team only (else 404)."""
    result_id, batch_id = str(data.get("result", "")), str(data.get("batch", ""))
    if result_id.isdigit():
        result = ResultImage.objects.select_related("job", "job__source")
        return get_object_or_404(result, pk=int(result_id), team=request.team), None
    if batch_id.isdigit():
        return None, get_object_or_404(Batch, pk=int(batch_id), team=request.team)
    raise Http404("Say which result or comparison board to share.")


@team_required
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    result, batch = _target(request, request.POST if request.method == "POST" else request.GET)
    form = ShareForm(request.POST or None)
    context = {"form": form, "result": result, "batch": batch}
    context["expiry_choices"] = sharing.EXPIRY_CHOICES
    if request.method != "POST" or not form.is_valid():
        status = 400 if request.method == "POST" else 200
        return render(request, "sharing/new.html", context, status=status)
    try:
        new = _link_from_form(request, form.cleaned_data, result, batch)
    except sharing.ShareError as exc:
        form.add_error(None, str(exc))
        return render(request, "sharing/new.html", context, status=400)
    url = request.build_absolute_uri(reverse("jobs:shared", args=[new.token]))
    response = render(request, "sharing/created.html", {**context, "link": new.link, "url": url})
    response["Cache-Control"] = "no-store"  # the token must not linger in any cache
    return response


def _link_from_form(
    request: HttpRequest, data: dict[str, Any], result: ResultImage | None, batch: Batch | None
) -> sharing.NewLink:
    return sharing.create_link(
        request.team,
        request.user,
        result=result,
        batch=batch,
        expires_in=data["expires_in"],
        password=data["password"],
        allow_download=data["allow_download"],
        label=data["label"],
    )


@team_required
def link_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(sharing.team_links(request.team), 50).get_page(request.GET.get("page"))
    return render(request, "sharing/list.html", {"page": page, "links": sharing.with_states(page)})


@team_required
@require_POST
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    link = get_object_or_404(sharing.team_links(request.team), pk=pk)
    sharing.revoke(link, actor=request.user)
    link.refresh_from_db()
    if request.htmx:
        context = {"link": sharing.with_states([link])[0]}
        return render(request, "sharing/list.html#link-row", context)
    messages.success(request, "The link was revoked; it stopped working immediately.")
    return _back(request)


@team_required
@require_POST
def revoke_all(request: HttpRequest) -> HttpResponse:
    result, batch = _target(request, request.POST)
    count = sharing.revoke_all(request.team, result=result, batch=batch, actor=request.user)
    messages.success(request, f"{count} link(s) revoked; they stopped working immediately.")
    return _back(request)


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    return redirect(target if safe and target else "jobs:share_links")


# ----- the public side ------------------------------------------------------------------------
def _private(response: HttpResponseBase) -> HttpResponseBase:
    """Headers every public response carries, whatever its status."""
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow, noarchive"
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _gone(request: HttpRequest) -> HttpResponseBase:
    """The same answer for an unknown, expired or revoked link, or anything not shared."""
    return _private(render(request, "sharing/public_gone.html", status=404))


def _unlocked(request: HttpRequest, link: ShareLink) -> bool:
    if not link.password_hash:
        return True
    return sharing.proof_matches(link, request.session.get(f"{_SESSION_PREFIX}{link.pk}"))


class _NullOriginCsrf(CsrfViewMiddleware):
    """CSRF for the public password form. Under `Referrer-Policy: no-referrer` a browser
    sends `Origin: null` with every POST, which Django's origin check refuses; the form's
    token must still match the cookie, and that is what stops a forged post."""

    def _origin_verified(self, request: HttpRequest) -> bool:
        return request.META.get("HTTP_ORIGIN") == "null" or super()._origin_verified(request)


@csrf_exempt  # the site-wide check would refuse "Origin: null"; the one below runs instead
@decorator_from_middleware(_NullOriginCsrf)
@require_http_methods(["GET", "POST"])
def public_page(request: HttpRequest, token: str) -> HttpResponseBase:
    link = sharing.resolve(token)
    if link is None:
        return _gone(request)
    if request.method == "POST":
        return _try_password(request, link, token)
    if not _unlocked(request, link):
        return _password_form(request, token, status=401)
    sharing.record_view(link)
    return _private(render(request, "sharing/public.html", _public_context(request, link, token)))


def _try_password(request: HttpRequest, link: ShareLink, token: str) -> HttpResponseBase:
    key = f"share-password-failures:{link.token_hash}"
    if cache.get(key, 0) >= PASSWORD_TRIES:
        error = "Too many wrong passwords. Try again in 15 minutes."
        return _password_form(request, token, status=429, error=error)
    if not sharing.password_ok(link, request.POST.get("password", "")):
        cache.add(key, 0, PASSWORD_LOCK_SECONDS)
        cache.incr(key)
        return _password_form(request, token, status=401, error="That password is not right.")
    request.session.cycle_key()  # a fresh session id once something is unlocked
    request.session[f"{_SESSION_PREFIX}{link.pk}"] = sharing.unlock_proof(link)
    return _private(redirect("jobs:shared", token=token))


def _password_form(
    request: HttpRequest, token: str, *, status: int, error: str = ""
) -> HttpResponseBase:
    context = {"token": token, "error": error}
    return _private(render(request, "sharing/public_password.html", context, status=status))


def _public_context(request: HttpRequest, link: ShareLink, token: str) -> dict[str, Any]:
    context: dict[str, Any] = {"link": link, "token": token}
    if link.result_id is not None:
        context["focus"] = sharing.shared_result(link, link.result_id)
        return context
    board = comparisons.build_board(link.batch, with_costs=False)
    shared_ids = board.result_ids()
    context["rows"] = [row for row in board.rows if any(e.results for e in row.entries)]
    context["winner_id"] = link.batch.winner_id if link.batch.winner_id in shared_ids else None
    chosen = request.GET.get("r", "")
    if chosen.isdigit() and int(chosen) in shared_ids:
        context["focus"] = sharing.shared_result(link, int(chosen))
    return context


@require_safe
def public_image(request: HttpRequest, token: str, pk: int, kind: str) -> HttpResponseBase:
    """Every image behind a link checks the link again: alive, unlocked, and shared by it."""
    link = sharing.resolve(token)
    if link is None or kind not in IMAGE_KINDS:
        return _gone(request)
    if not _unlocked(request, link):
        return _private(HttpResponse("This link needs its password.", status=401))
    result = sharing.shared_result(link, pk)
    if result is None or (kind == "download" and not link.allow_download):
        return _gone(request)
    served = _serve(result, kind)
    if served is None:
        return _gone(request)
    sharing.record_access(link)
    return _private(served)


def _serve(result: ResultImage, kind: str) -> FileResponse | None:
    if kind == "source":
        source = result.job.source
        if source is None or not source.file:
            return None
        file, fmt = sharing.clean_copy(
            source.file, source.format, max_pixels=settings.MAX_UPLOAD_PIXELS
        )
        return _image_response(file, fmt, f"original-{_stem(result)}", attachment=False)
    field = result.thumbnail if kind == "thumb" else result.file
    if not field:
        return None
    stored_format = "WEBP" if kind == "thumb" else result.format
    file, fmt = sharing.clean_copy(field, stored_format, max_pixels=_result_pixels(result))
    name = f"{_stem(result)}-{result.job.provider}-{result.width}x{result.height}"
    return _image_response(file, fmt, name, attachment=kind == "download")


def _result_pixels(result: ResultImage) -> int:
    try:
        return get_provider_class(result.job.provider).max_result_pixels
    except LookupError:
        return settings.MAX_UPLOAD_PIXELS


def _stem(result: ResultImage) -> str:
    source = result.job.source
    return source.original_name.rsplit(".", 1)[0] if source is not None else "image"


def safe_filename(stem: str, extension: str) -> str:
    """ASCII letters, digits, dot, dash and underscore only: nothing a header or a file
    system could misread (no quotes, slashes, control characters or leading dots)."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-_")[:100] or "image"
    return f"{clean}.{extension}"


def _image_response(file: Any, fmt: str, stem: str, *, attachment: bool) -> FileResponse:
    filename = safe_filename(stem, imaging.EXTENSIONS.get(fmt, "bin"))
    return FileResponse(
        file,
        as_attachment=attachment,
        filename=filename,
        content_type=imaging.content_type_for(fmt),
    )
