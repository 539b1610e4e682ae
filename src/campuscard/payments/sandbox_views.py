"""The sandbox gateway's own pages (they would live on the gateway's site in real life)."""

from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from campuscard.core import clock
from campuscard.payments.models import SandboxPayment
from campuscard.payments.tasks import sandbox_notify


@require_http_methods(["GET", "POST"])
def pay(request, order_no: str):
    payment = get_object_or_404(SandboxPayment, order_no=order_no)
    if request.method == "POST" and payment.status == "created":
        payment.status = "paid" if request.POST.get("decision") == "pay" else "failed"
        payment.updated_at = clock.now()
        payment.save(update_fields=["status", "updated_at"])
        sandbox_notify(payment.order_no)  # asynchronous, like a real gateway
        return redirect(payment.return_url)
    return render(request, "payments/sandbox_pay.html", {"payment": payment})
