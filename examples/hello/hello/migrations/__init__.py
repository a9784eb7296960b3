"""A toy migration runner, standing in for Django's `showmigrations` / `migrate`.

Migrations are the *.sql files in this directory, applied in name order. The
runner only records which ones were applied, one name per line, in
$HELLO_STATE_DIR/applied_migrations.txt. HELLO_STATE_DIR defaults to
<release>/data, which slipway links to <root>/shared/data on every host, so
the record outlives releases.

This is a package (not hello/migrations.py beside a migrations/ folder) so
the code and the .sql files it lists live in one place without one name
shadowing the other.
"""

import os
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent
RELEASE_DIR = MIGRATIONS_DIR.parent.parent


def state_file():
    state_dir = os.environ.get("HELLO_STATE_DIR") or RELEASE_DIR / "data"
    return Path(state_dir) / "applied_migrations.txt"


def available():
    return sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))


def applied():
    try:
        lines = state_file().read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return set()
    return {line.strip() for line in lines if line.strip()}


def plan():
    """[(name, is_applied)] in the order they apply."""
    done = applied()
    return [(name, name in done) for name in available()]


def apply():
    """Record every pending migration as applied; returns their names."""
    done = applied()
    pending = [name for name in available() if name not in done]
    if pending:
        path = state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        # Write then rename: a crash never leaves a half-written record.
        tmp.write_text("".join(f"{n}\n" for n in sorted(done | set(pending))), encoding="utf-8")
        os.replace(tmp, path)
    return pending
