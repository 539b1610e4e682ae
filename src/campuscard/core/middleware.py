"""Language choice: the language cookie, then the user's saved choice, then Chinese (rule 9).

Browsers send English Accept-Language headers by default even in China, so for pages we do not
follow the header; API clients (apps, devices) may ask for a language with it.
"""

from django.conf import settings
from django.utils import translation

SUPPORTED = {code for code, _name in settings.LANGUAGES}


def pick_language(request) -> str:
    cookie = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    if cookie in SUPPORTED:
        return cookie
    user = getattr(request, "user", None)
    saved = getattr(user, "language", "") if user is not None and user.is_authenticated else ""
    if saved in SUPPORTED:
        return saved
    if request.path.startswith("/api/"):
        header = translation.get_language_from_request(request)
        if header in SUPPORTED:
            return header
        if header and header.startswith("en"):
            return "en"
    return settings.LANGUAGE_CODE


class LanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = pick_language(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        translation.deactivate()
        return response
