"""ODCM: the Django project package (settings, URLs, Celery, configuration and crypto)."""

from odcm.build import version
from odcm.celery import app as celery_app

__all__ = ["celery_app", "version"]
