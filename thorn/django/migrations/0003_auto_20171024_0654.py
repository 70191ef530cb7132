# Thorn 1.5 (master): the same URL may subscribe to an event once per user.
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0002_auto_20160523_1905'),
    ]

    operations = [
        migrations.AlterField(
            model_name='subscriber',
            name='content_type',
            field=models.CharField(default='application/json', help_text='Desired content type for requests to this callback.', max_length=190, verbose_name='content type', choices=[('application/json', 'application/json'), ('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded')]),
        ),
        migrations.AlterUniqueTogether(
            name='subscriber',
            unique_together=set(),
        ),
    ]
