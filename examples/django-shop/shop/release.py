"""Which release this process runs: its directory and build id."""

import json
import os
from pathlib import Path

# resolve() follows the `current` symlink: a process keeps reporting the release it was
# loaded from, also after `current` moves on.
RELEASE_DIR = Path(__file__).resolve().parent.parent


def _build_id():
    # slipway writes the artifact's manifest, slipway.json, into every release. Read it
    # rather than SLIPWAY_BUILD_ID, which only slipway's hooks and health commands get.
    try:
        with open(RELEASE_DIR / "slipway.json", encoding="utf-8") as f:
            return str(json.load(f)["build_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return os.environ.get("SLIPWAY_BUILD_ID", "dev")  # a source checkout


BUILD_ID = _build_id()
