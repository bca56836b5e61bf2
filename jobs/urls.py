from django.urls import path

from jobs.views import (
    compare,
    gallery,
    job_actions,
    provider_accounts,
    references,
    sharing,
    spend,
    team,
)
from jobs.views import pages as views

app_name = "jobs"

urlpatterns = [
    path("", views.home, name="home"),
    path("upload/", views.upload, name="upload"),
    path("sources/", views.upload_source, name="upload_source"),
    path("sources/<int:pk>/image", views.source_file, name="source_file"),
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/<uuid:public_id>/", views.job_detail, name="job_detail"),
    path("jobs/<uuid:public_id>/row", views.job_row, name="job_row"),
    path("jobs/<uuid:public_id>/cancel", job_actions.cancel, name="job_cancel"),
    path("jobs/<uuid:public_id>/retry", job_actions.retry, name="job_retry"),
    path("gallery/", gallery.gallery, name="gallery"),
    path("gallery/<int:pk>/", gallery.result_detail, name="result_detail"),
    path("compare/", compare.compare, name="compare"),
    path("compare/<int:batch_id>/", compare.board, name="compare_board"),
    path("compare/<int:batch_id>/verdict", compare.verdict, name="compare_verdict"),
    path("share-links/", sharing.link_list, name="share_links"),
    path("share-links/new", sharing.create, name="share_create"),
    path("share-links/<int:pk>/revoke", sharing.revoke, name="share_revoke"),
    path("share-links/revoke-all", sharing.revoke_all, name="share_revoke_all"),
    path("shared/<str:token>/", sharing.public_page, name="shared"),
    path("shared/<str:token>/<int:pk>/<str:kind>", sharing.public_image, name="shared_image"),
    path("results/<int:pk>/file", views.result_file, name="result_file"),
    path("results/<int:pk>/thumb", views.result_thumb, name="result_thumb"),
    path("s/<str:token>/", views.public_source, name="public_source"),
    path("hooks/<slug:provider>/<str:token>/", views.webhook, name="webhook"),
]

urlpatterns += references.urlpatterns
urlpatterns += spend.urlpatterns
urlpatterns += team.urlpatterns + provider_accounts.urlpatterns
