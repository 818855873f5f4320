"""Development tools that stand in for the outside world: never a Django app, never imported by the portal's apps
(tests/test_sandbox_city.py holds that), and not copied into the production image (.dockerignore).

- ``sandbox.city``: the city platform (interfaces 2-5, with fault injection), ``python -m sandbox.city``.
"""
