"""The operator's one person page (#17 item 5): thin view over ``person_selectors.person_overview``.

Reached from the person list and search (the "Person page" column), from the person's change form, and from
each card, card application and appeal page (``person_page_link``)."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext

from campuscard.backoffice.person_selectors import people_visible, person_overview
from campuscard.core.actors import Actor
from campuscard.identity.selectors import may_reveal_personal_data, personal_data_masked
from campuscard.identity.services import person_personal_data_reveal


def person_page_url(person_id: int) -> str:
    return reverse("admin:identity_person_overview", args=[person_id])


def person_page_link(person) -> str:
    """A link to the person page for a readonly field or a list column; "—" without a person."""
    if person is None:
        return "—"
    return format_html('<a href="{}" class="text-primary-600 font-medium" data-testid="person-page-link">{} · {}</a>',
                       person_page_url(person.pk), person.name, gettext("Person page"))


def person_overview_view(admin_site, request, pk: int):
    """GET only; 404 for a person of another institution or without the right to see people (TEN-1)."""
    if request.method not in ("GET", "HEAD"):
        raise Http404
    person = get_object_or_404(people_visible(request.user), pk=pk)
    # ID and phone numbers masked; ?reveal=1 shows them to an entitled operator, audited (#18 item 7)
    entitled = may_reveal_personal_data(user=request.user, person=person)
    revealed = entitled and request.GET.get("reveal") == "1"
    shown = (person_personal_data_reveal(actor=Actor.by_user(request.user), person=person, where="person_page")
             if revealed else personal_data_masked(person=person))
    overview = person_overview(person=person, user=request.user)
    return TemplateResponse(request, "backoffice/person_overview.html", {
        **admin_site.each_context(request), "title": f"{person.name} · {person.number}", "o": overview,
        "person": person, "opts": person._meta, "change_url": reverse("admin:identity_person_change", args=[pk]),
        "shown": shown, "may_reveal": entitled and not revealed,
    })
