"""The JSON form of an article in the blog's own API."""

from rest_framework import serializers

from blog.models import Article


class ArticleSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Article
        fields = ["uuid", "title", "state", "url"]
        read_only_fields = ["uuid", "url"]

    def get_url(self, article):
        return self.context["request"].build_absolute_uri(article.get_absolute_url())
