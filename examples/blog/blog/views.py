"""The blog's API: ``/articles/`` and ``/articles/<uuid>/``.

Anyone may read; changes need an authenticated user (a token).  Every save
and delete here sends the article's webhooks from this process: delivered
at once with the default dispatcher, or published to Celery.
"""

from rest_framework import generics, permissions

from blog.models import Article
from blog.serializers import ArticleSerializer


class ArticleList(generics.ListCreateAPIView):
    queryset = Article.objects.order_by("pk")
    serializer_class = ArticleSerializer
    permission_classes = [permissions.IsAuthenticatedOrReadOnly]


class ArticleDetail(generics.RetrieveUpdateDestroyAPIView):
    queryset = Article.objects.all()
    serializer_class = ArticleSerializer
    permission_classes = [permissions.IsAuthenticatedOrReadOnly]
    lookup_field = "uuid"
