from django.urls import path

from campuscard.portal import views, wallet_views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("password/", views.password_change, name="password_change"),
    path("security/", views.security, name="security"),
    path("language/", views.language, name="language"),
    path("wallet/", wallet_views.wallet, name="wallet"),
    path("wallet/statement/", wallet_views.statement, name="statement"),
    path("wallet/spending/", wallet_views.spending, name="spending"),
    path("wallet/recharge/", wallet_views.recharge, name="recharge"),
    path("wallet/recharge/<str:order_no>/", wallet_views.recharge_status, name="recharge_status"),
]
