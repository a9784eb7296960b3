import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("reference", models.CharField(max_length=64, unique=True)),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("processed", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name="TaskRun",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("task_id", models.CharField(max_length=64, unique=True)),
                ("build_id", models.CharField(help_text="The worker release that ran it.", max_length=64)),
                ("finished", models.DateTimeField(auto_now_add=True)),
                ("duplicates", models.PositiveIntegerField(default=0)),
                ("order", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="runs", to="orders.order")),
            ],
        ),
    ]
