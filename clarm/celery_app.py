import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarm.settings")

app = Celery("clarm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["identity.privacy"])  # identity/privacy/tasks.py (a package inside an app)
