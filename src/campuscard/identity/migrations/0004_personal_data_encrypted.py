"""ID and phone numbers encrypted at rest, found by an HMAC blind index (#18 item 7)."""

from django.db import migrations, models

import campuscard.core.crypto
from campuscard.core.crypto import encrypt_columns


class Migration(migrations.Migration):

    dependencies = [
        ('identity', '0003_channel_binding'),
    ]

    operations = [
        migrations.RemoveIndex(model_name='person', name='identity_pe_institu_06349a_idx'),
        migrations.AddField(
            model_name='person',
            name='id_number_index',
            field=campuscard.core.crypto.BlindIndexField(source='id_number'),
        ),
        migrations.AddField(
            model_name='person',
            name='phone_index',
            field=campuscard.core.crypto.BlindIndexField(source='phone'),
        ),
        migrations.AlterField(
            model_name='person',
            name='id_number',
            field=campuscard.core.crypto.EncryptedCharField(blind_index='id_number_index', max_length=32,
                                                            verbose_name='ID number'),
        ),
        migrations.AlterField(
            model_name='person',
            name='phone',
            field=campuscard.core.crypto.EncryptedCharField(blank=True, blind_index='phone_index', max_length=20,
                                                            verbose_name='mobile phone'),
        ),
        encrypt_columns('identity', 'person', ['id_number', 'phone'],
                        indexes={'id_number_index': 'id_number', 'phone_index': 'phone'}),
        migrations.AddIndex(
            model_name='person',
            index=models.Index(fields=['institution', 'id_number_index'], name='person_id_number_index'),
        ),
        migrations.AddIndex(
            model_name='person',
            index=models.Index(fields=['institution', 'phone_index'], name='person_phone_index'),
        ),
        migrations.AlterModelOptions(
            name='person',
            options={'ordering': ['institution', 'number'],
                     'permissions': [('reveal_personal_data', 'Can see ID and phone numbers unmasked')],
                     'verbose_name': 'person', 'verbose_name_plural': 'people'},
        ),
    ]
