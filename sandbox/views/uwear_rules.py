"""Validation of uwear's upscale body, answered the way FastAPI/pydantic would (422).

The schema says `generation_settings` values are strings, so "true"/"0.5" are accepted
as well as JSON booleans and numbers. Unknown settings are refused (the real service may
ignore them; refusing catches adapter typos).
"""

from __future__ import annotations

from typing import Any

from sandbox.views.common import ApiError, is_int, is_number

MODELS = ("recraft", "topaz")
TOPAZ_DEFAULTS: dict[str, Any] = {
    "enhance_model": "High Fidelity V2",
    "upscale_factor": "4x",
    "face_enhancement": False,
    "subject_detection": "Foreground",
    "face_enhancement_creativity": 0.5,
}
CHOICES = {
    "enhance_model": ("Standard V2", "Low Resolution V2", "High Fidelity V2"),
    "upscale_factor": ("2x", "4x", "6x"),
    "subject_detection": ("Foreground", "Background", "Auto"),
}


class Problems:
    """Collects pydantic-style problems, raised together as one 422."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, kind: str, loc: list[Any], msg: str, value: Any = None) -> None:
        self.items.append({"type": kind, "loc": loc, "msg": msg, "input": value})

    def raise_any(self) -> None:
        if self.items:
            raise ApiError(422, self.items[0]["msg"], extra={"detail": self.items})


def validate_upscale(body: Any) -> dict[str, Any]:
    problems = Problems()
    if not isinstance(body, dict):
        msg = "Input should be a valid dictionary or object to extract fields from"
        problems.add("model_attributes_type", ["body"], msg, body)
        problems.raise_any()
    params: dict[str, Any] = {}
    _model(body, params, problems)
    _source(body, params, problems)
    problems.raise_any()
    settings = _settings(body.get("generation_settings"), params["model_name"], problems)
    problems.raise_any()
    if settings is not None:
        params["generation_settings"] = settings
    return params


def _model(body: dict[str, Any], params: dict[str, Any], problems: Problems) -> None:
    if "model_name" not in body:
        problems.add("missing", ["body", "model_name"], "Field required")
    elif body["model_name"] not in MODELS:
        msg = "Input should be 'recraft' or 'topaz'"
        problems.add("enum", ["body", "model_name"], msg, body["model_name"])
    else:
        params["model_name"] = body["model_name"]


def _source(body: dict[str, Any], params: dict[str, Any], problems: Problems) -> None:
    result_id, image_url = body.get("generation_result_id"), body.get("image_url")
    if result_id is not None and not is_int(result_id):
        msg = "Input should be a valid integer"
        problems.add("int_type", ["body", "generation_result_id"], msg, result_id)
    if image_url is not None and not isinstance(image_url, str):
        problems.add("string_type", ["body", "image_url"], "Input should be a valid string")
    if (result_id is None) == (image_url in (None, "")):
        msg = "Value error, provide exactly one of generation_result_id or image_url"
        problems.add("value_error", ["body"], msg)
    elif result_id is not None:
        params["generation_result_id"] = result_id
    else:
        params["image_url"] = image_url


def _settings(raw: Any, model: str, problems: Problems) -> dict[str, Any] | None:
    if raw is None:
        return dict(TOPAZ_DEFAULTS) if model == "topaz" else None
    loc = ["body", "generation_settings"]
    if model == "recraft":
        msg = "Value error, the recraft model does not accept generation_settings"
        problems.add("value_error", loc, msg, raw)
        return None
    if not isinstance(raw, dict):
        problems.add("dict_type", loc, "Input should be a valid dictionary", raw)
        return None
    for key in sorted(set(raw) - set(TOPAZ_DEFAULTS)):
        problems.add("extra_forbidden", [*loc, key], "Extra inputs are not permitted", raw[key])
    settings = dict(TOPAZ_DEFAULTS)
    for key, value in raw.items():
        if key in TOPAZ_DEFAULTS:
            cleaned = _clean(key, value)
            if cleaned is None:
                problems.add("value_error", [*loc, key], f"Invalid value for {key}", value)
            else:
                settings[key] = cleaned
    return settings


def _clean(key: str, value: Any) -> Any:
    if key in CHOICES:
        return value if value in CHOICES[key] else None
    if key == "face_enhancement":
        return _boolean(value)
    return _unit(value)


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"true": True, "false": False}.get(text)


def _unit(value: Any) -> float | None:
    """A number from 0.0 to 1.0, as a JSON number or a string."""
    if is_number(value) or (isinstance(value, str) and value.strip()):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if 0.0 <= number <= 1.0 else None
    return None
