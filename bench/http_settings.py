"""Settings for the gunicorn benchmarks only (bench_apply_access_gunicorn.py, bench_device_ingest_gunicorn.py):
the product's settings with a URLconf that adds their floor views. The product itself has no such view."""

from afxq_portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.http_urls"
