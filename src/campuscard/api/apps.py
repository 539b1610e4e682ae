from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "campuscard.api"
    label = "api"
    verbose_name = "API"
