"""Local fakes of the provider APIs, mounted at /sandbox/<slug>/ + the provider's own path.

A sandbox account's base URL is `<SANDBOX_BASE_URL>/sandbox/<slug>` plus the path part of
the adapter's default base URL, so every adapter runs unchanged against these routes.
"""

from django.urls import include, path

from sandbox.views import aimlapi, files, ideogram, imagineapi, overview, useapi, uwear

app_name = "sandbox"

useapi_patterns = [
    path("images", useapi.generate, name="useapi-generate"),
    path("images/upscale", useapi.upscale, name="useapi-upscale"),
    # Job ids contain ':' and '@' (and arrive percent-encoded): take the whole rest.
    path("images/<path:jobid>", useapi.job_status, name="useapi-job"),
    path("scheduler/<path:jobid>", useapi.cancel, name="useapi-cancel"),
]

uwear_patterns = [
    path("generation-upscale", uwear.create_upscale),
    path("generation", uwear.create_generation),
    path("generation/<str:generation_id>", uwear.generation),
]

imagineapi_patterns = [
    path("images", imagineapi.imagine, name="imagineapi-imagine"),
    path(
        "images/<str:image_id>/<str:index>/upscale/<str:scale>",
        imagineapi.upscale,
        name="imagineapi-upscale",
    ),
    path("images/<str:image_id>", imagineapi.image, name="imagineapi-image"),
]

urlpatterns = [
    path("", overview.index, name="index"),
    path("files/<slug:provider>/<str:filename>", files.download, name="file"),
    path("aimlapi/v1/images/generations", aimlapi.generations, name="aimlapi-generations"),
    path("useapi/v1/dreamina/", include(useapi_patterns)),
    path("imagineapi/items/", include(imagineapi_patterns)),
    # uwear says its /api/v1 prefix is legacy and routes move to the bare path: serve both.
    path("uwear/api/v1/", include(uwear_patterns)),
    path("uwear/", include(uwear_patterns)),
    path("ideogram/upscale", ideogram.upscale, name="ideogram-upscale"),
]
