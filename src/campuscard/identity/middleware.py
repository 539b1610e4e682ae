from django.shortcuts import redirect
from django.urls import reverse

from campuscard.identity.sso import password_change_forced

ALLOWED_PREFIXES = ("/static/", "/media/", "/i18n/", "/api/")


class ForcePasswordChangeMiddleware:
    """ID-3: a holder still on the initial password sees nothing but the change-password page (not in a
    single sign-on session: the provider keeps that password, ID-4)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and password_change_forced(request, user):
            allowed = {reverse("portal:password_change"), reverse("portal:logout"), reverse("portal:language")}
            if request.path not in allowed and not request.path.startswith(ALLOWED_PREFIXES):
                return redirect("portal:password_change")
        return self.get_response(request)
