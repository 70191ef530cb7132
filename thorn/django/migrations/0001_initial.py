# Thorn 1.5's initial schema: the migration an existing database already has.
import uuid

from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion

import thorn.generic.models


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Subscriber',
            fields=[
                ('id', models.AutoField(verbose_name='ID', serialize=False, auto_created=True, primary_key=True)),
                ('uuid', models.UUIDField(default=uuid.uuid4, verbose_name='UUID', unique=True, editable=False)),
                ('event', models.CharField(help_text='Name of event to connect with', max_length=190, verbose_name='event', db_index=True)),
                ('url', models.URLField(help_text='Destination URL', max_length=190, verbose_name='URL', db_index=True)),
                ('content_type', models.CharField(default='application/json', help_text='Desired content type for requests to this callback.', max_length=190, verbose_name='content type', choices=[('application/json', 'application/json'), ('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded')])),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created_at')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated_at')),
                ('user', models.ForeignKey(related_name='webhooks_subscriber', to=settings.AUTH_USER_MODEL, null=True, on_delete=django.db.models.deletion.CASCADE)),
            ],
            options={
                'ordering': ['url', '-created_at'],
                'get_latest_by': 'updated_at',
                'verbose_name': 'subscriber',
                'verbose_name_plural': 'subscriber',
            },
            bases=(models.Model, thorn.generic.models.SubscriberModelMixin),
        ),
        migrations.AlterUniqueTogether(
            name='subscriber',
            unique_together={('url', 'event')},
        ),
    ]
