"""The tag of the system checks that must also stop the web server at start (afxq_portal/wsgi.py runs them):
gunicorn runs no system checks, and a misconfiguration such as an apply-access open to everyone must not serve."""

SERVING_TAG = "afxq-serving"
