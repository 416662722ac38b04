import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarm.settings")

# Every task is a BoundedDelayTask: no countdown longer than the broker's visibility timeout.
app = Celery("clarm", task_cls="clarm.tasks_base:BoundedDelayTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["clarm"], related_name="tasks_base")  # clarm.task_hop
# Packages inside apps with their own tasks.py: identity/privacy, integrations/destinations, clarm/demo.
app.autodiscover_tasks(["identity.privacy", "integrations.destinations", "clarm.demo"])
