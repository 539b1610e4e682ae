"""Outside channels in the portal (ID-6): bind one (the token shown once) and revoke bindings."""

from __future__ import annotations

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campuscard.cards import channels
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.identity import selectors
from campuscard.identity.throttle import client_address
from campuscard.portal.forms import ChannelBindForm


def _person(request):
    person = selectors.person_of_user(request.user)
    if person is None:
        raise Http404
    return person


@login_required
@require_POST
def bind(request):
    person = _person(request)
    form = ChannelBindForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect("portal:security")
    try:
        binding, token = channels.channel_binding_create(
            actor=Actor.by_user(request.user), person=person, client_address=client_address(request),
            **form.cleaned_data)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("portal:security")
    # The token exists in plain only in this response (never stored): shown once, as text and as a QR code.
    qr = segno.make(token, error="m").svg_inline(scale=4, border=2, omitsize=True, dark="#0b2545")
    return render(request, "portal/channel_bound.html", {"binding": binding, "token": token, "qr": qr})


@login_required
@require_POST
def revoke(request, pk: int):
    binding = selectors.channel_bindings_of(_person(request)).filter(pk=pk).first()
    if binding is None:
        raise Http404
    try:
        channels.channel_binding_revoke(actor=Actor.by_user(request.user), binding=binding)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("%(channel)s can no longer use your card.") % {"channel": binding.channel})
    return redirect("portal:security")
