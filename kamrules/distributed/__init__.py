"""Runs across machines: tenants, Celery workers and a Redis broker (`pip install 'kamrules[distributed]'`).

Nothing here is imported by a single-machine `kamrules run`; celery and redis are imported only
by the modules that need them.
"""
