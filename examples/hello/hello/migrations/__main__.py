"""`python -m hello.migrations --plan | --apply`"""

import argparse

from hello.migrations import apply, plan


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hello.migrations")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--plan", action="store_true", help="list migrations: [X] applied, [ ] pending")
    mode.add_argument("--apply", action="store_true", help="apply every pending migration")
    args = parser.parse_args(argv)

    if args.plan:
        # Same shape as Django's `showmigrations --plan`, so a deploy tool can
        # count pending ones by their "[ ]" prefix.
        for name, done in plan():
            print(f"[{'X' if done else ' '}] {name}")
    else:
        pending = apply()
        for name in pending:
            print(f"Applying {name}... OK")
        if not pending:
            print("No migrations to apply.")


if __name__ == "__main__":
    main()
