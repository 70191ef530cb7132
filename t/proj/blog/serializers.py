"""Django REST Framework serializers that build the ``data`` of some blog events."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from t.proj.blog import models


class TagSerializer(serializers.ModelSerializer[Any]):
    class Meta:
        model = models.Tag
        fields = ["id", "name"]


class ArticleSerializer(serializers.ModelSerializer[Any]):
    """An article with its tags (a nested serializer: ``$defs`` in the catalog's schema)."""

    tags = TagSerializer(many=True, read_only=True)
    author = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = models.Article
        fields = ["uuid", "title", "state", "body", "author", "tags"]
