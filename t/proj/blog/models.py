"""The blog of the test project: the models of the Thorn docs, decorated both ways."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse

from thorn import ModelEvent, Q, model_reverser, webhook_model


class Account(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)


class Author(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    name = models.CharField(max_length=64, default="")


class Tag(models.Model):
    name = models.CharField(max_length=64)


@webhook_model
class Article(models.Model):
    """Nested ``class webhooks:`` style, as in the Events guide."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True)
    title = models.CharField(max_length=128)
    state = models.CharField(max_length=128, default="PENDING")
    body = models.TextField(blank=True, default="")
    author = models.ForeignKey(Author, null=True, blank=True, on_delete=models.CASCADE)
    tags = models.ManyToManyField(Tag, blank=True)

    class webhooks:
        on_create = ModelEvent("article.created")
        on_change = ModelEvent("article.changed")
        on_delete = ModelEvent("article.removed")
        on_publish = ModelEvent(
            "article.published", state__now_eq="PUBLISHED"
        ).dispatches_on_change()
        on_retract = ModelEvent(
            "article.retracted", Q(state__now_ne="PUBLISHED") & Q(state__ne="DELETED")
        ).dispatches_on_change()
        on_archive = ModelEvent(
            "article.archived",
            state__now_eq="ARCHIVED",
            serializer="t.proj.blog.serializers:ArticleSerializer",
            description="An article was archived: it is no longer shown.",
        ).dispatches_on_change()
        on_tagged = ModelEvent("article.tagged").dispatches_on_m2m_add("tags")
        on_untagged = ModelEvent("article.untagged").dispatches_on_m2m_remove("tags")
        on_tags_cleared = ModelEvent("article.tags_cleared").dispatches_on_m2m_clear("tags")
        sender_field = "author.account.user"

        def payload(self, article: Article) -> dict[str, Any]:
            return {"title": article.title, "state": article.state}

        def headers(self, article: Article) -> dict[str, str]:
            return {"X-Article-State": article.state}

    def get_absolute_url(self) -> str:
        return reverse("article-detail", kwargs={"uuid": self.uuid})


@webhook_model(
    on_create=ModelEvent("comment.created"),
    on_change=ModelEvent(
        "comment.changed", reverse=model_reverser("article-detail", uuid="article.uuid")
    ),
    on_delete=ModelEvent("comment.removed", sender_field=None),
    on_flag=ModelEvent(
        "comment.flagged.{.article.state}", flagged__now_eq=True
    ).dispatches_on_change(),
    sender_field="user",
    reverse=model_reverser("comment-detail", pk="pk"),
)
class Comment(models.Model):
    """Keyword-argument style, with model methods for payload and headers."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="comments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE)
    text = models.TextField()
    flagged = models.BooleanField(default=False)

    def webhook_payload(self) -> dict[str, Any]:
        return {"text": self.text, "article": str(self.article.uuid)}

    def webhook_headers(self) -> dict[str, str]:
        return {"X-Comment": str(self.pk)}


@webhook_model
class Profile(models.Model):
    """Event names formatted from the instance: ``user.{.username}``."""

    username = models.CharField(max_length=64)

    class webhooks:
        on_change = ModelEvent("user.{.username}")
