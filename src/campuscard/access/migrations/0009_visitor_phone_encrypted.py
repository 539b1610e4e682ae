"""Visitors' phone numbers encrypted at rest (#18 item 7)."""

from django.db import migrations

import campuscard.core.crypto
from campuscard.core.crypto import encrypt_columns


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0008_addon_moved_to_card_package'),
    ]

    operations = [
        migrations.AlterField(
            model_name='visitorpass',
            name='visitor_phone',
            field=campuscard.core.crypto.EncryptedCharField(max_length=20, verbose_name='visitor phone'),
        ),
        migrations.AlterField(
            model_name='visitorrequest',
            name='visitor_phone',
            field=campuscard.core.crypto.EncryptedCharField(max_length=20, verbose_name='visitor phone'),
        ),
        encrypt_columns('access', 'visitorpass', ['visitor_phone']),
        encrypt_columns('access', 'visitorrequest', ['visitor_phone']),
    ]
