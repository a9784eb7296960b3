import os

from django.core.management.base import BaseCommand, CommandError

from shop.celery import app


class Command(BaseCommand):
    help = (
        "Exit 0 when a Celery worker answers a ping: the worker role's health command. "
        "With SLIPWAY_BUILD_ID set (slipway sets it for health commands), a worker of that build must answer."
    )

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for replies")
        parser.add_argument("--build", default=os.environ.get("SLIPWAY_BUILD_ID", ""), help="build id a worker must run")

    def handle(self, *args, timeout, build, **options):
        broker = app.connection().as_uri()  # the password masked
        replies = app.control.ping(timeout=timeout)
        if not replies:
            raise CommandError(f"no Celery worker answered a ping within {timeout}s on {broker}: is the worker running?")
        workers = sorted(name for reply in replies for name in reply)
        if build:
            releases = app.control.broadcast("shop_release", reply=True, timeout=timeout)
            builds = {name: info.get("build_id") for reply in releases for name, info in reply.items()}
            if build not in builds.values():
                raise CommandError(
                    f"no worker runs build {build} yet (workers: {builds or workers}): "
                    "the worker was not restarted into the new release, or is still starting"
                )
        self.stdout.write(f"{len(workers)} worker(s) answered: {', '.join(workers)}")
