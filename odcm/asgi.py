"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

from odcm.startup import guarded

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "odcm.settings")
application = guarded(get_asgi_application)
