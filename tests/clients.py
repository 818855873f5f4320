"""Django test clients for the personas."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.test import Client


def logged_in(user: AbstractBaseUser) -> Client:
    client = Client()
    client.force_login(user)
    return client
