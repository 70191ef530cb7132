# thorn 2.0: asymmetric Standard Webhooks signatures (v1a, Ed25519), chosen
# per subscription.  Existing subscriptions keep signing with HMAC (v1).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0009_subscriber_stream'),
    ]

    operations = [
        migrations.AddField(
            model_name='subscriber',
            name='previous_signing_private_key',
            field=models.TextField(blank=True, default='', editable=False, help_text='The private key before the last rotation.', verbose_name='previous Ed25519 private key'),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='signing_algorithm',
            field=models.CharField(choices=[('hmac', 'HMAC-SHA256 (v1)'), ('ed25519', 'Ed25519 (v1a)')], default='hmac', help_text='hmac: webhook-signature is an HMAC with the secret (v1); ed25519: it is an Ed25519 signature (v1a), which receivers verify with the public key.', max_length=16, verbose_name='signing algorithm'),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='signing_private_key',
            field=models.TextField(blank=True, default='', editable=False, help_text='whsk_...: signs webhook-signature of an ed25519 subscription.', verbose_name='Ed25519 private key'),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='signing_public_key',
            field=models.TextField(blank=True, default='', editable=False, help_text='whpk_...: what receivers verify webhook-signature (v1a) with.', verbose_name='Ed25519 public key'),
        ),
    ]
