"""The blog's articles, with webhooks, as in thorn's "Django integration" guide."""

import uuid

from django.db import models
from django.urls import reverse

from thorn import ModelEvent, webhook_model


@webhook_model
class Article(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(max_length=128)
    state = models.CharField(max_length=128, default="PENDING")

    class webhooks:
        on_create = ModelEvent("article.created")
        on_change = ModelEvent("article.changed")
        on_delete = ModelEvent("article.removed")
        # Sent on a save that makes the state PUBLISHED (as well as article.changed).
        on_publish = ModelEvent(
            "article.published",
            state__now_eq="PUBLISHED",
        ).dispatches_on_change()

        # The "data" of every article event.
        def payload(self, article):
            return {"title": article.title, "state": article.state}

    def __str__(self):
        return self.title

    # The "ref" of every article event (prefixed with THORN_BASE_URL).
    def get_absolute_url(self):
        return reverse("article:detail", kwargs={"uuid": self.uuid})
