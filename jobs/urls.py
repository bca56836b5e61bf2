from django.urls import path

from jobs.views import pages as views
from jobs.views import references

app_name = "jobs"

urlpatterns = [
    path("", views.home, name="home"),
    path("upload/", views.upload, name="upload"),
    path("sources/", views.upload_source, name="upload_source"),
    path("sources/<int:pk>/image", views.source_file, name="source_file"),
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/<uuid:public_id>/", views.job_detail, name="job_detail"),
    path("jobs/<uuid:public_id>/row", views.job_row, name="job_row"),
    path("gallery/", views.gallery, name="gallery"),
    path("results/<int:pk>/file", views.result_file, name="result_file"),
    path("results/<int:pk>/thumb", views.result_thumb, name="result_thumb"),
    path("s/<str:token>/", views.public_source, name="public_source"),
    path("hooks/<slug:provider>/<str:token>/", views.webhook, name="webhook"),
]

urlpatterns += references.urlpatterns
