"""Test settings: the real settings with fast Argon2, immediate Huey and a local cache."""

from campuscard.settings import *  # noqa: F403

HUEY["immediate"] = True  # noqa: F405
PASSWORD_HASHERS = ["campuscard.identity.hashers.FastArgon2PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True
GATEWAY_SANDBOX_DELIVERY = "inprocess"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
