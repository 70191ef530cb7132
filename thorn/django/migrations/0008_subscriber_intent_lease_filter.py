# thorn 2.0: subscriber-side filters, leases (expires_at) and verification
# of intent.  Existing subscriptions are verified, without filter or expiry.

import thorn.django.models.subscriber
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0007_subscription_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='subscriber',
            name='expires_at',
            field=models.DateTimeField(blank=True, db_index=True, help_text='End of the lease: from then on, it receives nothing. Empty: no expiry.', null=True, verbose_name='expires at'),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='filter',
            field=models.JSONField(blank=True, default=dict, help_text='Only payloads that pass receive deliveries: {"data__state__eq": "PUBLISHED"}, payload paths with an operator, all of which must hold.', validators=[thorn.django.models.subscriber.validate_filter], verbose_name='filter'),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='verification_attempted_at',
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name='verification attempted at'),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='verification_error',
            field=models.CharField(blank=True, default='', editable=False, max_length=255, verbose_name='verification error'),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='verified',
            field=models.BooleanField(default=True, help_text='Whether the URL confirmed the subscription (THORN_VERIFY_INTENT): with that setting on, unverified subscriptions receive nothing.', verbose_name='verified'),
        ),
    ]
