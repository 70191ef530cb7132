"""URLs of the articles: ``article:list`` and ``article:detail``."""

from django.urls import path

from blog.views import ArticleDetail, ArticleList

app_name = "article"

urlpatterns = [
    path("", ArticleList.as_view(), name="list"),
    path("<uuid:uuid>/", ArticleDetail.as_view(), name="detail"),
]
