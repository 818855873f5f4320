from django.urls import path, re_path

from . import api, views

app_name = "residents"

urlpatterns = [
    # The contract names the path without a slash; a trailing one is accepted too.
    re_path(r"^apply-access/?$", api.ApplyAccessView.as_view(), name="apply-access"),
    path("guard/login/", views.GuardLoginView.as_view(), name="guard-login"),
    path("guard/logout/", views.GuardLogoutView.as_view(), name="guard-logout"),
    path("guard/", views.queue, name="guard-queue"),
    path("guard/state/", views.queue_state, name="guard-queue-state"),
    path("guard/<int:pk>/", views.detail, name="guard-detail"),
    path("guard/<int:pk>/approve/", views.approve, name="guard-approve"),
    path("guard/<int:pk>/reject/", views.reject, name="guard-reject"),
    path("residents/<int:pk>/photo/", views.photo, name="photo"),
]
