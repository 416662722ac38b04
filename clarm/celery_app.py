import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarm.settings")

app = Celery("clarm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Packages inside apps with their own tasks.py: identity/privacy, integrations/destinations.
app.autodiscover_tasks(["identity.privacy", "integrations.destinations"])
