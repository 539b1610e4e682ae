"""The ``campuscard`` command: Django's management commands under the product's name.

    campuscard up                 start everything (migrate, demo, web, worker)
    campuscard demo               load the demo institutions
    campuscard import_roster …    import a registrar or HR roster
    campuscard access_keys …      list, rotate or retire access signing keys
    campuscard help               every command
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campuscard.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["campuscard", *sys.argv[1:]])


if __name__ == "__main__":
    main()
