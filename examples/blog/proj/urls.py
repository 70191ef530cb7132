"""URLs of the example blog."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("articles/", include("blog.urls")),
    # thorn's subscription API: GET/POST /hooks/, GET/PUT/PATCH/DELETE /hooks/<uuid>/.
    path("hooks/", include("thorn.django.rest_framework.urls", namespace="webhook")),
    # thorn's webhooks portal, behind the site's login (accounts/login/).
    path("accounts/", include("django.contrib.auth.urls")),
    path("webhooks/", include("thorn.django.portal.urls")),
]
