from django.urls import path

from . import api

app_name = "devices"

urlpatterns = [
    path("pass-events", api.PassEventsView.as_view(), name="pass-events"),
    path("face-snapshots", api.FaceSnapshotsView.as_view(), name="face-snapshots"),
    path("car-snapshots", api.CarSnapshotsView.as_view(), name="car-snapshots"),
    path("faces", api.FaceListView.as_view(), name="faces"),
    path("faces/<int:pk>/photo", api.FacePhotoView.as_view(), name="face-photo"),
]
