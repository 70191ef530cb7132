"""URLs of the test project."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from t.proj.blog.models import Article


def detail(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(str(kwargs))


@csrf_exempt
@require_POST
def create_article(request: HttpRequest) -> HttpResponse:
    """Create an article titled by the request body (a web process's save(), for the tests)."""
    Article.objects.create(title=request.body.decode())
    return HttpResponse("created", status=201)


urlpatterns = [
    path("articles/", create_article, name="article-create"),
    path("admin/", admin.site.urls),
    path("hooks/", include("thorn.django.rest_framework.urls", namespace="webhook")),
    # The webhooks portal, behind the site's login (accounts/login/).
    path("accounts/", include("django.contrib.auth.urls")),
    path("webhooks/", include("thorn.django.portal.urls")),
    path("article/<uuid:uuid>/", detail, name="article-detail"),
    path("comment/<int:pk>/", detail, name="comment-detail"),
]
