from django.db import models


class Order(models.Model):
    reference = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    processed = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.reference


class TaskRun(models.Model):
    """One row per Celery task that ran, keyed by its task id: a second delivery of the
    same task finds the row and counts itself in `duplicates` instead of running again."""

    task_id = models.CharField(max_length=64, unique=True)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="runs")
    build_id = models.CharField(max_length=64, help_text="The worker release that ran it.")
    finished = models.DateTimeField(auto_now_add=True)
    duplicates = models.PositiveIntegerField(default=0)
