from django.db import migrations


def seed(apps, schema_editor):
    """Institutions that exist before the assistant get the starting knowledge base (new ones get it from
    the demo loader or the back office's "load the starting entries")."""
    from campuscard.assistant.knowledge import ENTRIES

    Institution = apps.get_model("core", "Institution")
    Entry = apps.get_model("assistant", "Entry")
    for institution in Institution.objects.all():
        have = set(Entry.objects.filter(institution=institution).values_list("slug", flat=True))
        Entry.objects.bulk_create([
            Entry(institution=institution, slug=slug, title=title, title_en=title_en, body=body, body_en=body_en,
                  keywords=keywords, link=link)
            for slug, title, title_en, body, body_en, keywords, link in ENTRIES if slug not in have])


class Migration(migrations.Migration):
    dependencies = [("assistant", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
