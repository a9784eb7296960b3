import time

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import Order, TaskRun


@shared_task(bind=True)
def process_order(self, reference, seconds=0.0):
    """Process an order, taking `seconds` (a slow task shows a worker's graceful stop).
    Idempotent: the row keyed by the task id is written in the same transaction as the
    order, so a task delivered twice processes the order once and counts the duplicate."""
    time.sleep(float(seconds))
    try:
        with transaction.atomic():
            order = Order.objects.select_for_update().get(reference=reference)
            TaskRun.objects.create(task_id=self.request.id, order=order, build_id=settings.SHOP_BUILD_ID)
            order.processed = timezone.now()
            order.save(update_fields=["processed"])
    except IntegrityError:
        TaskRun.objects.filter(task_id=self.request.id).update(duplicates=F("duplicates") + 1)
        return {"reference": reference, "duplicate": True}
    return {"reference": reference, "build_id": settings.SHOP_BUILD_ID}
