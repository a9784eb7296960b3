"""The Celery app: `celery -A shop worker`. Its broker is CELERY_BROKER_URL (Redis)."""

import os

from celery import Celery
from celery.worker.control import control_command

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@control_command()
def shop_release(state):
    """Which release a worker runs: `worker_ping` checks that the new one answers."""
    from .release import BUILD_ID, RELEASE_DIR

    return {"build_id": BUILD_ID, "release": str(RELEASE_DIR)}
