"""Settings from the environment, and from a .env file that the environment overrides."""

import os
from urllib.parse import parse_qs, unquote, urlsplit


def load_dotenv(path):
    """KEY=VALUE lines (# comments, optional quotes) into os.environ, never overriding it."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = (part.strip() for part in line.removeprefix("export ").split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        os.environ.setdefault(key, value)


def flag(name, default=False):
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


def listing(name, default):
    return [v.strip() for v in os.environ.get(name, default).split(",") if v.strip()]


def database(url, sqlite_path):
    """Django's DATABASES["default"] from a URL: postgres://user:pass@host:port/name (a
    %-encoded socket dir as host, or ?host=), sqlite:////abs/path; empty: sqlite_path.
    Parts left out stay empty, so libpq falls back to PGHOST, PGUSER, ... and its defaults."""
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(sqlite_path)}
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": unquote(parts.path)}
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL: unsupported scheme {parts.scheme!r} (use postgres:// or sqlite://)")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    hostport = parts.netloc.rpartition("@")[2]
    host = unquote(hostport if parts.port is None else hostport.rpartition(":")[0])
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": query.pop("host", host),
        "PORT": str(parts.port or ""),
        "OPTIONS": query,  # sslmode=require and the like go to libpq as they are
        "CONN_MAX_AGE": 60,
    }
