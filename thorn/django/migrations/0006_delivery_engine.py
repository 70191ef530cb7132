# thorn 2.0, the delivery engine: the outbox (MessageRecord), delivery and
# attempt records, and the health of subscriptions (is_active, failing_since).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0005_secret_rotation'),
    ]

    operations = [
        migrations.CreateModel(
            name='DeliveryRecord',
            fields=[
                ('id', models.UUIDField(primary_key=True, serialize=False, verbose_name='id')),
                ('subscription', models.UUIDField(verbose_name='subscription')),
                ('event', models.CharField(max_length=190, verbose_name='event')),
                ('url', models.URLField(max_length=2048, verbose_name='URL')),
                ('state', models.CharField(choices=[('pending', 'pending'), ('retrying', 'retrying'), ('succeeded', 'succeeded'), ('failed', 'failed'), ('cancelled', 'cancelled')], default='pending', max_length=16, verbose_name='state')),
                ('attempts', models.PositiveIntegerField(default=0, verbose_name='attempts')),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True, verbose_name='next attempt at')),
                ('locked_until', models.DateTimeField(blank=True, null=True, verbose_name='locked until')),
                ('lease', models.CharField(blank=True, default='', max_length=32, verbose_name='lease')),
                ('last_status_code', models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='last status')),
                ('last_error', models.TextField(blank=True, default='', verbose_name='last error')),
                ('last_latency', models.FloatField(blank=True, null=True, verbose_name='last latency (s)')),
                ('last_attempt_at', models.DateTimeField(blank=True, null=True, verbose_name='last attempt at')),
                ('created_at', models.DateTimeField(verbose_name='created at')),
                ('completed_at', models.DateTimeField(blank=True, null=True, verbose_name='completed at')),
            ],
            options={
                'verbose_name': 'delivery',
                'verbose_name_plural': 'deliveries',
                'db_table': 'webhooks_delivery',
            },
        ),
        migrations.AddField(
            model_name='subscriber',
            name='disabled_at',
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name='disabled at'),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='disabled_reason',
            field=models.CharField(blank=True, default='', editable=False, max_length=255, verbose_name='disabled because'),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='failing_since',
            field=models.DateTimeField(blank=True, editable=False, help_text='Every delivery since then has failed; cleared by the next success.', null=True, verbose_name='failing since'),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='is_active',
            field=models.BooleanField(db_index=True, default=True, help_text='Inactive subscriptions receive nothing. thorn turns this off when the URL answers 410 Gone, or after its deliveries failed for THORN_DISABLE_AFTER.', verbose_name='active'),
        ),
        migrations.CreateModel(
            name='AttemptRecord',
            fields=[
                ('id', models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.PositiveIntegerField(verbose_name='attempt')),
                ('started_at', models.DateTimeField(verbose_name='started at')),
                ('duration', models.FloatField(verbose_name='duration (s)')),
                ('status_code', models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='status')),
                ('error_class', models.CharField(blank=True, default='', max_length=100, verbose_name='error class')),
                ('error', models.TextField(blank=True, default='', verbose_name='error')),
                ('response_headers', models.JSONField(blank=True, default=dict, verbose_name='response headers')),
                ('response_body', models.TextField(blank=True, default='', verbose_name='response body')),
                ('delivery', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='history', to='webhooks.deliveryrecord', verbose_name='delivery')),
            ],
            options={
                'verbose_name': 'attempt',
                'verbose_name_plural': 'attempts',
                'db_table': 'webhooks_attempt',
                'ordering': ['delivery', 'number'],
            },
        ),
        migrations.CreateModel(
            name='MessageRecord',
            fields=[
                ('id', models.UUIDField(primary_key=True, serialize=False, verbose_name='id')),
                ('event', models.CharField(max_length=190, verbose_name='event')),
                ('data', models.JSONField(verbose_name='message')),
                ('created_at', models.DateTimeField(verbose_name='created at')),
                ('planned_at', models.DateTimeField(blank=True, null=True, verbose_name='planned at')),
                ('relayed_at', models.DateTimeField(blank=True, null=True, verbose_name='relayed at')),
            ],
            options={
                'verbose_name': 'message',
                'verbose_name_plural': 'messages',
                'db_table': 'webhooks_message',
                'indexes': [models.Index(condition=models.Q(('planned_at__isnull', True)), fields=['created_at'], name='webhooks_message_unplanned'), models.Index(fields=['created_at'], name='webhooks_message_created')],
            },
        ),
        migrations.AddField(
            model_name='deliveryrecord',
            name='message',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='webhooks.messagerecord', verbose_name='message'),
        ),
        migrations.AddIndex(
            model_name='deliveryrecord',
            index=models.Index(condition=models.Q(('state__in', ('pending', 'retrying'))), fields=['next_attempt_at'], name='webhooks_delivery_due'),
        ),
        migrations.AddIndex(
            model_name='deliveryrecord',
            index=models.Index(fields=['subscription', '-created_at'], name='webhooks_delivery_sub'),
        ),
        migrations.AddIndex(
            model_name='deliveryrecord',
            index=models.Index(fields=['created_at'], name='webhooks_delivery_created'),
        ),
    ]
