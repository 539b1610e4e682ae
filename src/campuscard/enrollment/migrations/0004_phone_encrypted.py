"""Applicants' phone numbers and the SMS codes' numbers encrypted at rest; codes found by a blind index
(#18 item 7). The biometric columns were encrypted from the start (the same keys, ``core.crypto``)."""

from django.db import migrations, models

import campuscard.core.crypto
from campuscard.core.crypto import encrypt_columns


class Migration(migrations.Migration):

    dependencies = [
        ('enrollment', '0003_terminal_face'),
    ]

    operations = [
        migrations.RemoveIndex(model_name='phonecode', name='enrollment__phone_55d239_idx'),
        migrations.AddField(
            model_name='phonecode',
            name='phone_index',
            field=campuscard.core.crypto.BlindIndexField(source='phone'),
        ),
        migrations.AlterField(
            model_name='phonecode',
            name='phone',
            field=campuscard.core.crypto.EncryptedCharField(blind_index='phone_index', max_length=20,
                                                            verbose_name='mobile phone'),
        ),
        migrations.AlterField(
            model_name='application',
            name='phone',
            field=campuscard.core.crypto.EncryptedCharField(blank=True, max_length=20, verbose_name='mobile phone'),
        ),
        encrypt_columns('enrollment', 'phonecode', ['phone'], indexes={'phone_index': 'phone'}),
        encrypt_columns('enrollment', 'application', ['phone']),
        migrations.AddIndex(
            model_name='phonecode',
            index=models.Index(fields=['phone_index', 'sent_at'], name='phone_code_phone_index'),
        ),
    ]
