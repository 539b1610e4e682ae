"""The assistant's chat panel and the knowledge-base pages it cites (SUP-1). Presentation only: the
answering, the hand-off and the intents are ``assistant.services``. Open to anonymous visitors too (the
24-hour help): they are answered for the institution they chose at login (its cookie), else the first."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campuscard.assistant import selectors, services
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.identity import selectors as identity_selectors

HISTORY = 12  # exchanges kept in the session for the page without JavaScript


def holder_and_institution(request):
    person = identity_selectors.person_of_user(request.user) if request.user.is_authenticated else None
    if person is not None:
        return person, person.institution
    institution = (Institution.objects.filter(code=request.COOKIES.get("cc_institution", "")).first()
                   or Institution.objects.order_by("code").first())
    if institution is None:
        raise Http404
    return None, institution


def _remember(request, item: dict) -> None:
    history = request.session.get("assistant", [])[-(HISTORY - 1):]
    history.append(item)
    request.session["assistant"] = history


def _reply(request, item: dict):
    if request.htmx:
        return render(request, "portal/_assistant_item.html", {"item": item})
    return redirect("portal:assistant")


def chat(request):
    person, institution = holder_and_institution(request)
    return render(request, "portal/assistant.html", {
        "person": person, "institution": institution, "history": request.session.get("assistant", [])})


@require_POST
def ask(request):
    person, institution = holder_and_institution(request)
    question = request.POST.get("question", "")
    try:
        answer = services.ask(institution=institution, question=question, language=get_language() or "",
                              person=person, channel="portal")
    except DomainError as error:
        item = {"question": question[:500], "error": error.message}
    else:
        item = {"question": question, **answer.as_dict()}
    _remember(request, item)
    return _reply(request, item)


@require_POST
def act(request):
    """An intent the holder chose under an answer: show the balance, the nearest kiosk, or report a card lost
    (only with the confirmation box ticked)."""
    person, institution = holder_and_institution(request)
    intent = request.POST.get("intent", "")
    item: dict = {"intent": intent}
    if intent == "nearest_kiosk":
        item["kiosk"] = services.nearest_kiosk(institution=institution, person=person)
    elif person is None:
        item["error"] = _("Please log in first.")
    elif intent == "balance":
        item["balance"] = services.balance_of(person=person)
    elif intent == "report_lost":
        try:
            card = services.report_lost(actor=Actor.by_user(request.user), person=person,
                                        card_number=request.POST.get("card", ""),
                                        confirmed=request.POST.get("confirm") == "yes")
        except DomainError as error:
            item["error"] = error.message
        else:
            item["reported"] = card.number
    else:
        raise Http404
    _remember(request, item)
    return _reply(request, item)


@require_POST
def clear(request):
    request.session.pop("assistant", None)
    return redirect("portal:assistant")


def help_index(request):
    person, institution = holder_and_institution(request)
    return render(request, "portal/help.html", {"person": person, "entries": selectors.entries(institution=institution)})


def help_entry(request, slug: str):
    person, institution = holder_and_institution(request)
    entry = selectors.entry_by_slug(institution=institution, slug=slug)
    if entry is None:
        raise Http404
    # the language the assistant answered in (its source link says it), else the page's
    language = request.GET.get("lang") if request.GET.get("lang") in ("en", "zh-hans") else get_language()
    return render(request, "portal/help_entry.html", {"person": person, "entry": entry, "language": language,
                                                      "title": entry.shown_title(language),
                                                      "body": entry.shown_body(language)})
