"""Browser POS (PAY-1 … PAY-4; issue 5, item 5): a tablet page at a merchant's counter.

Enrolled like the kiosk (device id + secret → signed cookie, ``/devices/enrol/pos/``); the device is
re-read on every request, so a revocation in the back office applies at the next sale. The cashier keys
the amount on the page's keypad; the holder's code arrives from a keyboard-wedge scanner (it types the
code and Enter into the focused field; a wedge NFC reader types the card UID the same way) or from the
camera (the browser's BarcodeDetector). The page's script makes one transaction id per sale and sends
the same id again when it retries after a network failure, so ``pos.payment_authorize`` charges once.

Presentation only: every rule is in ``payments.pos``.
"""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Sum
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campuscard.cards import codes
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen, parse_yuan
from campuscard.devices.models import Device
from campuscard.payments import pos
from campuscard.payments.models import Payment, Terminal
from campuscard.terminals.web import device_page

TODAY_ROWS = 50  # the list shows the latest; the totals cover the whole day
PASSWORD_ASKED = ("payment_password_required", "payment_password_incorrect")
_CARD_UID = re.compile(r"^[0-9A-Fa-f]{2}(:?[0-9A-Fa-f]{2}){3,9}$")  # what a wedge NFC reader types


def _terminal(request) -> Terminal | None:
    return (Terminal.objects.select_related("merchant__institution", "merchant__account", "device")
            .filter(device=request.device).first())


def _texts() -> dict[str, str]:
    """The script's own words, translated here."""
    return {
        "key_amount_first": _("Key the amount first, then scan the code again."),
        "sending": _("Sending…"),
        "retrying": _("No answer from the server — trying again with the same transaction (it is charged once)."),
        "network_failed": _("The connection failed. The payment may have gone through: retry first — the same "
                            "transaction is charged only once."),
        "retry": _("Retry"),
        "cancel": _("Cancel"),
        "camera_unavailable": _("This browser cannot read codes with the camera: use the scanner."),
        "camera_failed": _("The camera could not be started."),
        "camera_on": _("Camera"),
        "camera_off": _("Stop camera"),
    }


def _today(terminal: Terminal) -> dict:
    start = clock.institution_now(terminal.merchant.institution).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = Payment.objects.filter(terminal=terminal, created_at__gte=start)
    totals = rows.order_by().aggregate(count=Count("id"), takings=Sum("amount"), refunds=Sum("refunded"))
    takings, refunds = totals["takings"] or 0, totals["refunds"] or 0
    latest = [_view(p) for p in rows.select_related("person", "card", "merchant", "terminal").order_by("-created_at", "-pk")
              [:TODAY_ROWS]]
    return {"payments": latest, "count": totals["count"], "takings": takings, "refunds": refunds,
            "net": takings - refunds, "more": max(0, totals["count"] - len(latest))}


def _view(payment: Payment) -> dict:
    view = pos.payment_receipt(payment=payment)
    view.update(pk=payment.pk, method_label=Payment.Method(payment.method).label, merchant_en=payment.merchant.name_en,
                refundable=payment.amount - payment.refunded, counter=payment.terminal.counter,
                refund_key=uuid.uuid4().hex)  # a resend of this form refunds once
    return view


def _not_a_terminal(request):
    return render(request, "terminals/pos_unknown.html", {"device": request.device, "kind": Device.Kind.POS,
                                                        "message": DomainError("terminal_unknown").message},
                  status=403)


@device_page(Device.Kind.POS)
def pos_page(request):
    terminal = _terminal(request)
    if terminal is None:
        return _not_a_terminal(request)
    context = {"device": request.device, "terminal": terminal, "today": _today(terminal)}
    if request.GET.get("part") == "today":
        return render(request, "terminals/pos_today.html", context)
    return render(request, "terminals/pos.html", {**context, "texts": _texts()})


@require_POST
@device_page(Device.Kind.POS)
def pay(request):
    """One attempt at a sale; answers with the result panel (paid, password needed, or refused)."""
    terminal = _terminal(request)
    if terminal is None:
        return _result(request, error=DomainError("terminal_unknown"), time_zone=request.device.institution.time_zone)
    time_zone = terminal.merchant.institution.time_zone
    txn_id = request.POST.get("txn_id", "").strip()
    presented = request.POST.get("code", "").strip()
    password = request.POST.get("password", "") or None
    try:
        amount = parse_yuan(request.POST.get("amount", ""))
    except (ValueError, TypeError):
        return _result(request, error=DomainError("payment_amount_invalid"), time_zone=time_zone)
    if not presented:
        return _result(request, error=DomainError("qr_invalid"), time_zone=time_zone)
    if len(txn_id) > 64:
        return _result(request, error=DomainError("validation_error"), time_zone=time_zone)
    card_uid = bool(_CARD_UID.match(presented)) and not codes.is_numeric(presented)
    try:
        receipt = pos.payment_authorize(terminal=terminal, txn_id=txn_id, amount=amount,
                                        code="" if card_uid else presented, nfc_uid=presented if card_uid else "",
                                        password=password)
        payment = Payment.objects.get(pk=receipt.payment_id)
    except DomainError as error:
        return _result(request, error=error, txn_id=txn_id, amount=amount, time_zone=time_zone)
    return _result(request, payment=payment, txn_id=txn_id, amount=amount, time_zone=time_zone)


def _result(request, *, time_zone: str, payment: Payment | None = None, error: DomainError | None = None,
            txn_id: str = "", amount: int = 0):
    context = {"txn_id": txn_id, "amount": amount, "time_zone": time_zone}
    if payment is not None:
        context.update(outcome="paid", receipt=_view(payment))
        status = 200
    else:
        outcome = "password" if error.code in PASSWORD_ASKED else "refused"
        context.update(outcome=outcome, error=error, message=error.message,
                       password_free=format_fen(settings.PASSWORD_FREE_LIMIT_FEN))
        status = error.status
    return render(request, "terminals/pos_result.html", context, status=status)


@require_POST
@device_page(Device.Kind.POS)
def refund(request):
    """Same-day refund, full or partial, of one of this terminal's payments."""
    terminal = _terminal(request)
    if terminal is None:
        return _not_a_terminal(request)
    notice, level = "", "success"
    payment = Payment.objects.filter(terminal=terminal, pk=request.POST.get("payment") or 0).first()
    try:
        if payment is None:
            raise DomainError("payment_not_found")
        raw = request.POST.get("amount", "").strip()
        try:
            amount = parse_yuan(raw) if raw else None
        except (ValueError, TypeError):
            raise DomainError("refund_exceeds_payment", left=format_fen(payment.amount - payment.refunded))
        done = pos.payment_refund(actor=Actor.by_device(request.device), payment=payment, amount=amount,
                                  reason=request.POST.get("reason", ""), key=request.POST.get("refund_key", ""))
        notice = _("Refunded %(amount)s to card ****%(card)s.") % {"amount": format_fen(done.amount),
                                                                   "card": payment.card.number[-4:]}
    except DomainError as error:
        notice, level = error.message, "error"
    if not request.htmx:
        getattr(messages, level)(request, notice)
        return redirect("devices:pos")
    return render(request, "terminals/pos_today.html", {"device": request.device, "terminal": terminal,
                                                      "today": _today(terminal), "notice": notice, "level": level},
                  status=200)
