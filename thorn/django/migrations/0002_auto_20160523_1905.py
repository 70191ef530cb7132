# Thorn 1.5: per-subscriber HMAC secret and digest.
from django.db import migrations, models

import thorn.django.models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='subscriber',
            name='hmac_digest',
            field=models.CharField(default='sha256', max_length=64, verbose_name='HMAC Digest', choices=[('SHA512', 'sha512'), ('SHA256', 'sha256'), ('SHA1', 'sha1')]),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='hmac_secret',
            field=models.TextField(default=thorn.django.models.random_secret64, verbose_name='HMAC Secret', help_text='Secret key used to sign messages to this subscriber.'),
        ),
    ]
