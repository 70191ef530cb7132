"""``python manage.py create_api_user NAME``: a user of the API, and their token.

Prints the token's key, for ``Authorization: Token <key>``.  Running it again
for the same name prints the same key.  With ``--password``, the user can
also log in to the site (its webhooks portal, at /webhooks/).
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create a user (without a password, unless given) and an API token; print the token."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", help="let the user log in with this password")

    def handle(self, *args, username, password=None, **options):
        user, created = get_user_model().objects.get_or_create(username=username)
        if password:
            user.set_password(password)
            user.save(update_fields=["password"])
        elif created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
