"""URLs of the test project."""

from django.http import HttpResponse
from django.urls import path


def article_detail(request, uuid):
    return HttpResponse(str(uuid))


urlpatterns = [
    path("article/<uuid:uuid>/", article_detail, name="article-detail"),
]
