from django.urls import path

from .receiver import receive_events

app_name = "terminals"

urlpatterns = [
    path("<str:secret>/events", receive_events, name="events"),
]
