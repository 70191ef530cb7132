# thorn 2.0: stream-only subscriptions (delivery_mode, stream_seen_at), the
# "streamed" state of their deliveries, and the leases of live streams.

import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0008_subscriber_intent_lease_filter'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='subscriber',
            name='delivery_mode',
            field=models.CharField(choices=[('post', 'POST to the URL'), ('stream', 'stream only')], default='post', help_text="post: deliveries are POSTed to the URL; stream: no URL, deliveries are only read from the subscription's live stream.", max_length=16, verbose_name='delivery'),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='stream_seen_at',
            field=models.DateTimeField(blank=True, editable=False, help_text="When a client last read this subscription's live stream.", null=True, verbose_name='stream last read at'),
        ),
        migrations.AlterField(
            model_name='deliveryrecord',
            name='state',
            field=models.CharField(choices=[('pending', 'pending'), ('retrying', 'retrying'), ('succeeded', 'succeeded'), ('failed', 'failed'), ('cancelled', 'cancelled'), ('streamed', 'streamed')], default='pending', max_length=16, verbose_name='state'),
        ),
        migrations.AlterField(
            model_name='subscriber',
            name='url',
            field=models.URLField(blank=True, help_text='Destination URL (none for a stream-only subscription).', max_length=2048, verbose_name='URL'),
        ),
        migrations.CreateModel(
            name='StreamLease',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False, verbose_name='id')),
                ('subscription', models.UUIDField(verbose_name='subscription')),
                ('started_at', models.DateTimeField(verbose_name='started at')),
                ('expires_at', models.DateTimeField(verbose_name='expires at')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'stream lease',
                'verbose_name_plural': 'stream leases',
                'db_table': 'webhooks_stream_lease',
                'indexes': [models.Index(fields=['user', 'expires_at'], name='webhooks_stream_lease_user')],
            },
        ),
    ]
