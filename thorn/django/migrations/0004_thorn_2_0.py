# thorn 2.0: lower-case digests, optional owner in forms, event patterns
# validated, URLs up to 2048 characters (no index on the URL).
from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion

import thorn.django.models


def lower_case_digests(apps, schema_editor):
    """Thorn 1.5 stored 'SHA256' (its choices) or 'sha256' (its default)."""
    Subscriber = apps.get_model('webhooks', 'Subscriber')
    db = schema_editor.connection.alias
    for digest in ('SHA1', 'SHA256', 'SHA512', 'Sha1', 'Sha256', 'Sha512'):
        Subscriber.objects.using(db).filter(hmac_digest=digest).update(hmac_digest=digest.lower())


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0003_auto_20171024_0654'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='subscriber',
            options={'get_latest_by': 'updated_at', 'ordering': ['url', '-created_at'], 'verbose_name': 'subscriber', 'verbose_name_plural': 'subscribers'},
        ),
        migrations.AlterField(
            model_name='subscriber',
            name='content_type',
            field=models.CharField(choices=[('application/json', 'application/json'), ('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded')], default='application/json', help_text='Content type of the messages sent to this subscriber.', max_length=190, verbose_name='content type'),
        ),
        migrations.AlterField(
            model_name='subscriber',
            name='created_at',
            field=models.DateTimeField(auto_now_add=True, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='subscriber',
            name='event',
            field=models.CharField(db_index=True, help_text='Event pattern to subscribe to: "article.created", "article.*", "*.created" or "*".', max_length=190, validators=[thorn.django.models.validate_event_pattern], verbose_name='event'),
        ),
        migrations.AlterField(
            model_name='subscriber',
            name='hmac_digest',
            field=models.CharField(choices=[('sha1', 'SHA1'), ('sha256', 'SHA256'), ('sha512', 'SHA512')], default='sha256', help_text='Digest of the HMAC signature.', max_length=64, verbose_name='HMAC digest'),
        ),
        migrations.RunPython(lower_case_digests, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name='subscriber',
            name='hmac_secret',
            field=models.TextField(default=thorn.django.models.random_secret64, help_text='Secret key used to sign messages to this subscriber.', verbose_name='HMAC secret'),
        ),
        migrations.AlterField(
            model_name='subscriber',
            name='updated_at',
            field=models.DateTimeField(auto_now=True, verbose_name='updated at'),
        ),
        migrations.AlterField(
            model_name='subscriber',
            name='url',
            field=models.URLField(help_text='Destination URL.', max_length=2048, verbose_name='URL'),
        ),
        migrations.AlterField(
            model_name='subscriber',
            name='user',
            field=models.ForeignKey(blank=True, help_text='Owner: receives events without a sender and its own events.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='%(app_label)s_%(class)s', to=settings.AUTH_USER_MODEL, verbose_name='user'),
        ),
    ]
