import json

from django.core.management.base import BaseCommand, CommandError

from campuscard.access import keys
from campuscard.access.models import AccessSigningKey
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.identity.selectors import institution_by_code


class Command(BaseCommand):
    help = ("Access signing keys (ACC-3, ACC-5): `list` = key id, active, retired, created and the base64 public "
            "key gates are provisioned with; `rotate` = a new active key; `retire --key-id N` = an old key stops "
            "verifying (only after every offline gate has synced since the rotation). Exit 2 on refusal.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "rotate", "retire"])
        parser.add_argument("--institution", required=True, help="institution code")
        parser.add_argument("--key-id", type=int, dest="key_id", help="the key to retire")
        parser.add_argument("--json", action="store_true", help="list: print the keys as JSON")

    def handle(self, *args, action: str, institution: str, key_id: int | None = None, json: bool = False,
               **options):
        actor = Actor.system("cli:access_keys")
        try:
            inst = institution_by_code(institution)
            if action == "rotate":
                key = keys.signing_key_rotate(actor=actor, institution_id=inst.pk)
                self.stdout.write(self.style.SUCCESS(
                    f"{inst.code}: key {key.key_id} is now active; retire the old key once every offline gate "
                    f"has synced"))
            elif action == "retire":
                if key_id is None:
                    raise CommandError("retire needs --key-id N", returncode=2)
                key = keys.signing_key_retire(actor=actor, institution_id=inst.pk, key_id=key_id)
                self.stdout.write(self.style.SUCCESS(
                    f"{inst.code}: key {key.key_id} retired at {self._when(key.retired_at, inst)}"))
            else:
                self._list(inst, as_json=json)
        except DomainError as error:
            self.stderr.write(self.style.ERROR(error.message))
            raise CommandError(error.code, returncode=2)

    @staticmethod
    def _when(moment, inst) -> str:
        return moment.astimezone(clock.zone(inst.time_zone)).isoformat(timespec="seconds") if moment else "-"

    def _list(self, inst, *, as_json: bool) -> None:
        rows = [{"key_id": k.key_id, "active": k.active, "retired": self._when(k.retired_at, inst),
                 "created": self._when(k.created_at, inst), "public_key": k.public_key}
                for k in AccessSigningKey.objects.filter(institution=inst).order_by("key_id")]
        if as_json:
            self.stdout.write(_json_dumps(rows))
            return
        if not rows:
            self.stdout.write(f"{inst.code}: no keys yet (`rotate` makes the first; so does the first visitor "
                              f"pass or gate snapshot)")
            return
        self.stdout.write(f"{'key':>4}  {'active':<6}  {'retired':<25}  {'created':<25}  public key (base64)")
        for row in rows:
            self.stdout.write(f"{row['key_id']:>4}  {'yes' if row['active'] else 'no':<6}  {row['retired']:<25}  "
                              f"{row['created']:<25}  {row['public_key']}")


def _json_dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
