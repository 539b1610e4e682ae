"""My card package (APP-4): the base package and the add-ons the holder chooses — presentation only;
the rules are in ``cards.services.package_addons_set``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campuscard.cards import policy, selectors, services
from campuscard.cards.models import PackageAddon
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.portal.card_views import _person

BASE_LABELS = {"canteen": gettext_lazy("canteen payment"), "library": gettext_lazy("library"),
               "door": gettext_lazy("door access")}
ADDON_HINTS = {
    "dorm_electricity": gettext_lazy("Top up your dormitory's electricity from your card balance."),
    "laundry": gettext_lazy("Book and pay for the laundry machines with your card."),
    "lab": gettext_lazy("Open laboratories you hold a permit for (apply under Access)."),
}


@login_required
def package(request):
    person = _person(request)
    if request.method == "POST":
        try:
            services.package_addons_set(actor=Actor.by_user(request.user), person=person,
                                        addons=request.POST.getlist("addons"))
            messages.success(request, _("Your card package was saved."))
        except DomainError as error:
            messages.error(request, error.message)
        return redirect("portal:package")
    chosen = selectors.package_addons(person=person)
    labels = dict(PackageAddon.Addon.choices)
    return render(request, "portal/package.html", {
        "person": person, "base": [BASE_LABELS[b] for b in policy.BASE_PACKAGE],
        "addons": [{"code": a, "label": labels[a], "hint": ADDON_HINTS[a], "on": a in chosen} for a in policy.ADDONS]})

