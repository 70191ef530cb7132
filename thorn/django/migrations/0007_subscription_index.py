# thorn 2.0: the version of the subscriptions, which the in-memory
# subscription index of every process compares with its own.
from django.db import migrations, models


def first_version(apps, schema_editor):
    """The one row of the counter."""
    SubscriptionsVersion = apps.get_model('webhooks', 'SubscriptionsVersion')
    SubscriptionsVersion.objects.using(schema_editor.connection.alias).get_or_create(pk=1)


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0006_delivery_engine'),
    ]

    operations = [
        migrations.CreateModel(
            name='SubscriptionsVersion',
            fields=[
                ('id', models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('value', models.BigIntegerField(default=0, verbose_name='version')),
            ],
            options={
                'verbose_name': 'subscriptions version',
                'db_table': 'webhooks_subscriptions_version',
            },
        ),
        migrations.RunPython(first_version, migrations.RunPython.noop),
    ]
