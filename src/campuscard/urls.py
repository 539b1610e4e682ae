from django.contrib import admin
from django.urls import include, path, re_path

from campuscard.api.fallback import not_found as api_not_found
from campuscard.api.main import api
from campuscard.cards.views import photo_file
from campuscard.core.health import healthz, readyz
from campuscard.core.metrics import metrics_view

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),  # Prometheus; restricted (core/metrics.py, #18 item 8)
    path("backoffice/", admin.site.urls),
    path("media/<path:path>", photo_file, name="photo_file"),
    path("api/v1/", api.urls),
    re_path(r"^api/(?P<rest>.*)$", api_not_found),  # after the API: only what it does not know
    path("i18n/", include("django.conf.urls.i18n")),
    path("devices/", include("campuscard.terminals.urls")),
    path("sandbox-gateway/", include("campuscard.payments.sandbox_urls")),
    path("", include("campuscard.portal.urls")),
]
