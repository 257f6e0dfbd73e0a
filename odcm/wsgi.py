"""WSGI entry point (gunicorn odcm.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

from odcm.startup import guarded

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "odcm.settings")
application = guarded(get_wsgi_application)
