from django.contrib import admin
from django.urls import include, path

from campuscard.api.main import api

urlpatterns = [
    path("backoffice/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("campuscard.portal.urls")),
]
