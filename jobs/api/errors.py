"""One error shape for every API failure: {"error": {"code", "message", "details"}}.

`code` is stable and meant for programs; `message` is plain words for the person reading
the script's output; `details` holds whatever helps (the field at fault, budget figures).
"""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        return error_response(
            self.status, self.code, self.message, details=self.details, headers=self.headers
        )


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def invalid(message: str, field: str = "") -> ApiError:
    """400 for a request the caller must fix."""
    return ApiError(400, "invalid_request", message, details={"field": field} if field else None)


def not_found(what: str = "job") -> ApiError:
    return ApiError(404, "not_found", f"No such {what} in this token's team.")
