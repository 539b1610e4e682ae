# The phone's HCE credential on the buses (#20 item 1)

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cards', '0006_replacementfee'),
        ('transit', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='binding',
            name='with_card',
            field=models.BooleanField(default=True, help_text="validators accept the card's NFC UID", verbose_name='physical card'),
        ),
        migrations.AddField(
            model_name='binding',
            name='phone',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='cards.credential', verbose_name='phone (HCE)'),
        ),
        migrations.AddField(
            model_name='binding',
            name='phone_bound',
            field=models.BooleanField(default=False, help_text="validators accept the phone's NFC (HCE) credential", verbose_name='phone bound'),
        ),
        migrations.AddField(
            model_name='tap',
            name='medium',
            field=models.CharField(choices=[('nfc', 'physical card'), ('hce', 'phone (NFC)')], default='nfc', max_length=4, verbose_name='presented'),
        ),
        migrations.AlterField(
            model_name='tap',
            name='nfc_uid',
            field=models.CharField(max_length=32, verbose_name='card UID or phone token'),
        ),
    ]
