"""Settings for the shop. Everything that differs between machines comes from the
environment or from a .env file beside manage.py (on a host: <root>/shared/.env, linked into
each release); see .env.example."""

import os
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from . import env
from .release import BUILD_ID, RELEASE_DIR

BASE_DIR = RELEASE_DIR
env.load_dotenv(BASE_DIR / ".env")

DEBUG = env.flag("DJANGO_DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "django-insecure-local-development-only"
    elif sys.argv[1:2] == ["collectstatic"]:
        # collectstatic runs at build time, where no secret exists by design; it signs nothing.
        SECRET_KEY = "collectstatic-signs-nothing"
    else:
        raise ImproperlyConfigured("SECRET_KEY is not set: put it in the environment or in .env (see .env.example)")

ALLOWED_HOSTS = env.listing("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
SHOP_BUILD_ID = BUILD_ID

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "orders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # WhiteNoise serves STATIC_ROOT, right after SecurityMiddleware as its docs say.
    "shop.middleware.StaticFilesMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "shop" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]

# Local state (SQLite when DATABASE_URL is unset) lives outside the release: deploy.shared
# links <root>/shared/data to <release>/data.
DATA_DIR = Path(os.environ.get("SHOP_DATA_DIR", BASE_DIR / "data"))
DATABASES = {"default": env.database(os.environ.get("DATABASE_URL", ""), DATA_DIR / "db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
# collectstatic writes here at build time, so the artifact carries the fingerprinted files
# and staticfiles.json; the manifest storage makes {% static %} name them.
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "shop" / "static"]
STATICFILES_STORAGE = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task is acknowledged when it ends, and a worker takes one at a time: a worker stopped
# mid-task (past supervisord's stopwaitsecs) leaves it to be delivered again, never lost.
# Tasks must then be idempotent: orders.tasks records each one under a unique key.
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
