from django.core.management.base import BaseCommand

from orders.models import Order
from orders.tasks import process_order


class Command(BaseCommand):
    help = "Create an order and enqueue its processing; prints the Celery task id."

    def add_arguments(self, parser):
        parser.add_argument("reference")
        parser.add_argument("--seconds", type=float, default=0.0, help="how long the task takes")

    def handle(self, *args, reference, seconds, **options):
        Order.objects.create(reference=reference)
        result = process_order.delay(reference, seconds)
        self.stdout.write(result.id)
