from django.urls import path

from campuscard.terminals import (
    exam_views,
    gate_views,
    kiosk_views,
    laundry_views,
    pos_views,
    rental_views,
    transit_views,
)

app_name = "devices"
urlpatterns = [
    path("enrol/<str:kind>/", kiosk_views.enrol, name="enrol"),
    path("kiosk/", kiosk_views.kiosk, name="kiosk"),
    path("kiosk/identify/", kiosk_views.identify, name="kiosk_identify"),
    path("kiosk/action/", kiosk_views.action, name="kiosk_action"),
    path("pos/", pos_views.pos_page, name="pos"),
    path("pos/pay/", pos_views.pay, name="pos_pay"),
    path("pos/refund/", pos_views.refund, name="pos_refund"),
    path("gate/", gate_views.gate_page, name="gate"),
    path("gate/decide/", gate_views.decide, name="gate_decide"),
    path("validator/", transit_views.validator_page, name="validator"),
    path("validator/snapshot/", transit_views.snapshot, name="validator_snapshot"),
    path("validator/upload/", transit_views.upload, name="validator_upload"),
    path("exam/", exam_views.rooms, name="exam_rooms"),
    path("exam/<int:pk>/", exam_views.room, name="exam_room"),
    path("exam/<int:pk>/check-in/", exam_views.check_in, name="exam_check_in"),
    path("exam/<int:pk>/attendance.csv", exam_views.export, name="exam_export"),
    path("laundry/", laundry_views.machine_page, name="laundry"),
    path("laundry/start/", laundry_views.start, name="laundry_start"),
    path("laundry/bookings/<int:pk>/cycle/", laundry_views.cycle, name="laundry_cycle"),
    path("desk/", rental_views.desk, name="rental_desk"),
    path("desk/identify/", rental_views.identify, name="rental_identify"),
    path("desk/checkout/", rental_views.checkout, name="rental_checkout"),
    path("desk/return/", rental_views.give_back, name="rental_return"),
    path("desk/finish/", rental_views.finish, name="rental_finish"),
]
