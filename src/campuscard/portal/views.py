"""Cardholder pages: presentation only; rules live in identity.services (ID-3, ID-5, ID-6)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campuscard.cards import selectors as card_selectors
from campuscard.core.errors import DomainError
from campuscard.identity import selectors, services, throttle
from campuscard.identity.backends import account_key
from campuscard.identity.sso import sso_enabled
from campuscard.payments import selectors as payment_selectors
from campuscard.portal import services as home_services
from campuscard.portal.forms import (
    ChannelBindForm,
    LoginForm,
    PasswordChangeForm,
    PaymentPasswordForm,
    QueryPasswordForm,
)


def login_view(request):
    if request.user.is_authenticated:
        return redirect("portal:home")
    initial = {"institution": request.COOKIES.get("cc_institution")}
    form = LoginForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["institution"].code
        number = form.cleaned_data["number"].strip()
        account, address = account_key(number, code), throttle.client_address(request)
        minutes = throttle.locked_for_minutes(account, address)
        user = None if minutes else authenticate(request, username=number, password=form.cleaned_data["password"],
                                                  institution=code)
        if user is not None:
            login(request, user)
            response = redirect(_safe_next(request) or "portal:home")
            response.set_cookie("cc_institution", code, max_age=365 * 86400, samesite="Lax",
                                secure=settings.SESSION_COOKIE_SECURE)
            if getattr(request, "cc_device_id", None):  # SUP-4: this device, remembered for new-device alerts
                response.set_cookie("cc_device", request.cc_device_id, max_age=365 * 86400, samesite="Lax",
                                    httponly=True, secure=settings.SESSION_COOKIE_SECURE)
            return response
        minutes = minutes or throttle.locked_for_minutes(account, address)
        error = DomainError("login_locked", minutes=minutes) if minutes else DomainError("login_failed")
        form.add_error(None, error.message)
    return render(request, "portal/login.html", {"form": form, "sso_enabled": sso_enabled()})


def _safe_next(request) -> str | None:
    target = request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return None


@require_POST
def logout_view(request):
    logout(request)
    return redirect("portal:login")


@login_required
def home(request):
    """Balance and the pay code first, then the holder's services from one registry (#17 item 6)."""
    person = selectors.person_of_user(request.user)
    if person is None:
        return render(request, "portal/home.html", {"person": None})
    card = next((view.card for view in card_selectors.cards_of(person)
                 if view.card.state == view.card.State.ACTIVE), None)
    return render(request, "portal/home.html", {
        "person": person, "card": card, "summary": payment_selectors.wallet_summary(person),
        "services": home_services.services_for(person=person),
        "account_services": home_services.services_for(person=person, section=home_services.ACCOUNT_SECTION)})


@login_required
def password_change(request):
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.password_change(user=request.user, **form.cleaned_data)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            update_session_auth_hash(request, request.user)
            messages.success(request, _("Your password has been changed."))
            return redirect("portal:home")
    return render(request, "portal/password_change.html",
                  {"form": form, "forced": request.user.must_change_password})


@login_required
def security(request):
    person = selectors.person_of_user(request.user)
    if person is None:
        return redirect("portal:home")
    which = request.POST.get("form")
    payment_form = PaymentPasswordForm(request.POST if which == "payment" else None,
                                       has_password=person.has_payment_password)
    query_form = QueryPasswordForm(request.POST if which == "query" else None)
    form, service = {"payment": (payment_form, services.payment_password_set),
                     "query": (query_form, services.query_password_set)}.get(which, (None, None))
    if form is not None and form.is_valid():
        try:
            service(user=request.user, **form.cleaned_data)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Saved."))
            return redirect("portal:security")
    return render(request, "portal/security.html",
                  {"person": person, "payment_form": payment_form, "query_form": query_form,
                   "bindings": selectors.channel_bindings_of(person), "channel_form": ChannelBindForm()})


@require_POST
def language(request):
    code = request.POST.get("language", "")
    if code not in dict(settings.LANGUAGES):
        code = settings.LANGUAGE_CODE
    if request.user.is_authenticated and request.user.language != code:
        request.user.language = code
        request.user.save(update_fields=["language"])
    response = redirect(_safe_back(request))
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, code, max_age=365 * 86400, samesite="Lax",
                        secure=settings.LANGUAGE_COOKIE_SECURE)
    return response


def _safe_back(request) -> str:
    target = request.POST.get("next") or "/"
    return target if url_has_allowed_host_and_scheme(target, {request.get_host()}) else "/"


def manifest(request):
    """Web app manifest: the portal installs on the phone's home screen (offline pay code)."""
    from django.http import JsonResponse

    return JsonResponse({
        "name": _("Campus Card"), "short_name": _("Campus Card"), "start_url": "/cards/", "scope": "/",
        "display": "standalone", "background_color": "#f3f5f9", "theme_color": "#0b5cad",
        "icons": [{"src": "/static/portal/icon.svg", "sizes": "any", "type": "image/svg+xml"}],
    }, content_type="application/manifest+json")


def service_worker(request):
    """Served from the root so its scope covers the whole portal."""
    from django.contrib.staticfiles import finders
    from django.http import HttpResponse

    with open(finders.find("portal/sw.js"), encoding="utf-8") as source:
        response = HttpResponse(source.read(), content_type="application/javascript")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response
