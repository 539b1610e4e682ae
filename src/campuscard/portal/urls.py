from django.urls import path

from campuscard.portal import access_views, card_views, payment_views, views, wallet_views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("password/", views.password_change, name="password_change"),
    path("security/", views.security, name="security"),
    path("language/", views.language, name="language"),
    path("cards/", card_views.cards, name="cards"),
    path("cards/migrate/", card_views.migrate, name="migrate"),
    path("cards/photo/", card_views.photo, name="photo"),
    path("cards/<str:number>/code/", card_views.pay_code, name="pay_code"),
    path("cards/<str:number>/offline-codes/", card_views.offline_codes, name="offline_codes"),
    path("cards/<str:number>/lost/", card_views.report_lost, name="report_lost"),
    path("cards/<str:number>/found/", card_views.unreport, name="unreport"),
    path("cards/<str:number>/replace/", card_views.replace, name="replace"),
    path("notifications/", card_views.notifications, name="notifications"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="service_worker"),
    path("wallet/", wallet_views.wallet, name="wallet"),
    path("wallet/statement/", wallet_views.statement, name="statement"),
    path("wallet/spending/", wallet_views.spending, name="spending"),
    path("wallet/recharge/", wallet_views.recharge, name="recharge"),
    path("wallet/recharge/<str:order_no>/", wallet_views.recharge_status, name="recharge_status"),
    path("payments/", payment_views.payments, name="payments"),
    path("payments/limits/", payment_views.limits, name="payment_limits"),
    path("payments/<int:pk>/appeal/", payment_views.appeal, name="payment_appeal"),
    path("canteens/", payment_views.canteens, name="canteens"),
    path("access/", access_views.access, name="access"),
    path("access/campus-entry/", access_views.campus_entry, name="access_campus_entry"),
    path("access/log/", access_views.log, name="access_log"),
    path("access/permits/", access_views.permits, name="access_permits"),
    path("access/visitors/", access_views.visitors, name="access_visitors"),
    path("access/visitors/<int:pk>/", access_views.visitor, name="access_visitor"),
    path("access/visitors/<int:pk>/revoke/", access_views.visitor_revoke, name="access_visitor_revoke"),
]
