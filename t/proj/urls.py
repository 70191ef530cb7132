"""URLs of the test project."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def detail(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(str(kwargs))


urlpatterns = [
    path("admin/", admin.site.urls),
    path("hooks/", include("thorn.django.rest_framework.urls", namespace="webhook")),
    path("article/<uuid:uuid>/", detail, name="article-detail"),
    path("comment/<int:pk>/", detail, name="comment-detail"),
]
