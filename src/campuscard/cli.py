"""The ``campuscard`` command: Django's management commands under the product's name.

    campuscard up                 start everything (migrate, demo, web, worker)
    campuscard demo               load the demo institutions
    campuscard import_roster …    import a registrar or HR roster
    campuscard access-keys …      list, rotate or retire access signing keys
    campuscard help               every command
"""

import os
import sys

# Spellings with a hyphen for commands whose module names cannot have one.
ALIASES = {"access-keys": "access_keys"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campuscard.settings")
    from django.core.management import execute_from_command_line

    argv = sys.argv[1:]
    for position in (0, 1) if argv[:1] == ["help"] else (0,):
        if len(argv) > position:
            argv[position] = ALIASES.get(argv[position], argv[position])
    execute_from_command_line(["campuscard", *argv])


if __name__ == "__main__":
    main()
