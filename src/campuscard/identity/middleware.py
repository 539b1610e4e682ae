from django.shortcuts import redirect
from django.urls import reverse

ALLOWED_PREFIXES = ("/static/", "/media/", "/i18n/", "/api/")


class ForcePasswordChangeMiddleware:
    """ID-3: a holder still on the initial password sees nothing but the change-password page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.must_change_password:
            allowed = {reverse("portal:password_change"), reverse("portal:logout"), reverse("portal:language")}
            if request.path not in allowed and not request.path.startswith(ALLOWED_PREFIXES):
                return redirect("portal:password_change")
        return self.get_response(request)
