from django.urls import path

from campuscard.payments import sandbox_views

app_name = "sandbox_gateway"
urlpatterns = [path("pay/<str:order_no>/", sandbox_views.pay, name="pay")]
