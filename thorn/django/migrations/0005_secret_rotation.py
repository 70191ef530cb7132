# thorn 2.0: rotation of a subscription's secret with a grace period: the
# secret it replaced, and until when that one still signs deliveries.
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0004_thorn_2_0'),
    ]

    operations = [
        migrations.AddField(
            model_name='subscriber',
            name='previous_hmac_secret',
            field=models.TextField(blank=True, default='', editable=False, help_text='The secret before the last rotation.', verbose_name='previous HMAC secret'),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='previous_hmac_secret_expires',
            field=models.DateTimeField(blank=True, editable=False, help_text='Until then, deliveries are also signed with the previous secret.', null=True, verbose_name='previous secret valid until'),
        ),
    ]
