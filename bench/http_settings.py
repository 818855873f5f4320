"""Settings for bench/bench_apply_access_gunicorn.py only: the product's settings with a URLconf that adds
the floor view. The product itself has no such view."""

from afxq_portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.http_urls"
