"""APP-4: the lab add-on moves from ``access.AccessAddon`` into the card package (``cards.PackageAddon``).

Every row moves as it is (granted and revoked times kept), so the laboratories decide exactly as before;
``access`` then drops its table (access 0008)."""

from django.db import migrations


def forwards(apps, schema_editor):
    AccessAddon = apps.get_model("access", "AccessAddon")
    PackageAddon = apps.get_model("cards", "PackageAddon")
    rows = AccessAddon.objects.order_by("pk").values_list("person_id", "addon", "granted_at", "revoked_at")
    PackageAddon.objects.bulk_create([PackageAddon(person_id=person, addon=addon, granted_at=granted, revoked_at=revoked)
                                      for person, addon, granted, revoked in rows.iterator()], batch_size=5000)


def backwards(apps, schema_editor):
    AccessAddon = apps.get_model("access", "AccessAddon")
    PackageAddon = apps.get_model("cards", "PackageAddon")
    rows = PackageAddon.objects.filter(addon="lab").order_by("pk").values_list("person_id", "addon", "granted_at",
                                                                               "revoked_at")
    AccessAddon.objects.bulk_create([AccessAddon(person_id=person, addon=addon, granted_at=granted, revoked_at=revoked)
                                     for person, addon, granted, revoked in rows.iterator()], batch_size=5000)


class Migration(migrations.Migration):

    dependencies = [
        ("cards", "0003_package_issue_batches"),
        ("access", "0007_snapshot_serial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
