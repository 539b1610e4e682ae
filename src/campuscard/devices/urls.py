from django.urls import path

from campuscard.devices import kiosk_views

app_name = "devices"
urlpatterns = [
    path("enrol/<str:kind>/", kiosk_views.enrol, name="enrol"),
    path("kiosk/", kiosk_views.kiosk, name="kiosk"),
    path("kiosk/identify/", kiosk_views.identify, name="kiosk_identify"),
    path("kiosk/action/", kiosk_views.action, name="kiosk_action"),
]
