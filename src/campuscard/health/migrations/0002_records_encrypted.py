"""What the health records say encrypted at rest (#18 item 7); holder, record number and dates stay plain."""

from django.db import migrations

import campuscard.core.crypto
from campuscard.core.crypto import encrypt_columns


class Migration(migrations.Migration):

    dependencies = [
        ('health', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='examination',
            name='height_cm',
            field=campuscard.core.crypto.EncryptedDecimalField(blank=True, decimal_places=1, max_digits=4, null=True,
                                                               verbose_name='height (cm)'),
        ),
        migrations.AlterField(
            model_name='examination',
            name='weight_kg',
            field=campuscard.core.crypto.EncryptedDecimalField(blank=True, decimal_places=1, max_digits=4, null=True,
                                                               verbose_name='weight (kg)'),
        ),
        migrations.AlterField(
            model_name='examination',
            name='systolic',
            field=campuscard.core.crypto.EncryptedPositiveSmallIntegerField(
                blank=True, null=True, verbose_name='blood pressure, systolic (mmHg)'),
        ),
        migrations.AlterField(
            model_name='examination',
            name='diastolic',
            field=campuscard.core.crypto.EncryptedPositiveSmallIntegerField(
                blank=True, null=True, verbose_name='blood pressure, diastolic (mmHg)'),
        ),
        migrations.AlterField(
            model_name='examination',
            name='heart_rate',
            field=campuscard.core.crypto.EncryptedPositiveSmallIntegerField(blank=True, null=True,
                                                                            verbose_name='heart rate (/min)'),
        ),
        migrations.AlterField(
            model_name='examination',
            name='vision_left',
            field=campuscard.core.crypto.EncryptedDecimalField(blank=True, decimal_places=1, max_digits=2, null=True,
                                                               verbose_name='vision, left'),
        ),
        migrations.AlterField(
            model_name='examination',
            name='vision_right',
            field=campuscard.core.crypto.EncryptedDecimalField(blank=True, decimal_places=1, max_digits=2, null=True,
                                                               verbose_name='vision, right'),
        ),
        migrations.AlterField(
            model_name='examination',
            name='conclusion',
            field=campuscard.core.crypto.EncryptedCharField(blank=True, max_length=500, verbose_name='conclusion'),
        ),
        migrations.AlterField(
            model_name='vaccination',
            name='vaccine',
            field=campuscard.core.crypto.EncryptedCharField(max_length=100, verbose_name='vaccine'),
        ),
        migrations.AlterField(
            model_name='vaccination',
            name='dose',
            field=campuscard.core.crypto.EncryptedPositiveSmallIntegerField(default=1, verbose_name='dose'),
        ),
        migrations.AlterField(
            model_name='vaccination',
            name='batch',
            field=campuscard.core.crypto.EncryptedCharField(blank=True, max_length=50, verbose_name='batch'),
        ),
        encrypt_columns('health', 'examination', ['height_cm', 'weight_kg', 'systolic', 'diastolic', 'heart_rate',
                                                  'vision_left', 'vision_right', 'conclusion']),
        encrypt_columns('health', 'vaccination', ['vaccine', 'dose', 'batch']),
    ]
