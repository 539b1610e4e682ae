"""The assistant (SUP-1): answer a question from the institution's knowledge base, always naming the entry
it came from; when unsure, say so and hand over to the holder's campus service point (SUP-2); act on a few
intents with the holder's confirmation (report the card lost through ``cards.services``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Max
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from campuscard.assistant import (
    errors,  # noqa: F401  (registers the codes)
    ranker,
)
from campuscard.assistant.knowledge import ENTRIES, REDIRECTS, examples
from campuscard.assistant.models import Entry, Question
from campuscard.cards import selectors as card_selectors
from campuscard.cards import services as card_services
from campuscard.cards.models import Card
from campuscard.core import clock
from campuscard.core import service_points as points
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution, ServicePoint
from campuscard.identity.models import Person

MAX_QUESTION = 500
# A confident answer's entry holds at least this share of the question's weight (see ranker), and either
# scores high enough or beats the runner-up clearly. When words only redirects have carry this share of the
# question, it is another office's question whatever else it shares with our entries. Chosen by a grid
# cross-validated over the three tuning sets (knowledge.EXAMPLE_SETS: each set measured with the other two's
# questions as the entries' examples); tests/assistant/questions_unseen.json measures them (docs/benchmarks.md).
MIN_COVERAGE = 0.25
MIN_SCORE = 4.0
MIN_MARGIN = 1.2
REDIRECT_SHARE = 0.4

_cache = ranker.IndexCache()

# Intents (with the holder's confirmation where they change something): the words that suggest them.
BALANCE_WORDS = frozenset({"余额", "剩", "剩下", "多少钱", "balance", "left"})
KIOSK_WORDS = frozenset({"最近", "附近", "离我", "自助机", "自助终端", "kiosk", "nearest", "closest", "nearby", "near"})
LOSS_SLUG = "loss-report"


@dataclass
class Answer:
    text: str
    confident: bool
    language: str
    sources: list[dict] = field(default_factory=list)
    handoff: dict | None = None
    actions: list[dict] = field(default_factory=list)
    entry: Entry | None = None
    question_id: int | None = None
    redirect: bool = False  # the answer says who else handles this (counted as not confident: not ours)

    def as_dict(self) -> dict:
        return {"answer": self.text, "confident": self.confident, "language": self.language,
                "sources": self.sources, "handoff": self.handoff, "actions": self.actions, "redirect": self.redirect}


def knowledge_base_seed(*, institution: Institution) -> int:
    """Copy the starting entries, and the redirects for what other offices handle, into an institution's
    knowledge base (only the slugs it does not have yet, so operators' edits stay). Returns how many were added."""
    have = set(Entry.objects.filter(institution=institution).values_list("slug", flat=True))
    rows = [Entry(institution=institution, slug=slug, title=title, title_en=title_en, body=body, body_en=body_en,
                  keywords=keywords, examples="\n".join(examples().get(slug, [])), link=link, redirect=redirect)
            for redirect, table in ((False, ENTRIES), (True, REDIRECTS))
            for slug, title, title_en, body, body_en, keywords, link in table if slug not in have]
    Entry.objects.bulk_create(rows)
    return len(rows)


def _fingerprint(institution_id: int) -> tuple:
    row = Entry.objects.filter(institution_id=institution_id, published=True).aggregate(
        n=Count("id"), last=Max("updated_at"))
    return row["n"], row["last"]


def _load(institution_id: int):
    def load():
        entries = list(Entry.objects.filter(institution_id=institution_id, published=True).order_by("slug"))
        # titles and the operators' keywords weigh more than the answer's wording
        documents = [" ".join([e.title, e.title_en] * 4 + [e.keywords] * 3 + [e.body, e.body_en, e.examples])
                     for e in entries]
        return entries, documents
    return load


def index_for(*, institution_id: int) -> tuple[ranker.Index, list[Entry]]:
    return _cache.get(institution_id, _fingerprint(institution_id), _load(institution_id))


def entry_url(*, entry: Entry, language: str = "") -> str:
    """The portal page showing the entry, in the language the answer was given in."""
    url = reverse("portal:help_entry", args=[entry.slug])
    return f"{url}?lang={language}" if language else url


def decide(*, hits: list[ranker.Hit]) -> bool:
    """Confident? (one rule for the API, the portal and the benchmark)"""
    if not hits:
        return False
    best = hits[0]
    return best.coverage >= MIN_COVERAGE and (best.score >= MIN_SCORE or best.margin >= MIN_MARGIN)


def _campus_id(institution: Institution, person: Person | None) -> int | None:
    if person is not None and person.campus_id:
        return person.campus_id
    return institution.campuses.order_by("code").values_list("pk", flat=True).first()


def handoff(*, institution: Institution, person: Person | None) -> dict:
    """The nearest human help: the holder's campus staffed point (open ones first), its hours and phone,
    and the hotline with its hours — all "open now" in the institution's time zone."""
    staffed = points.open_first(institution, campus_id=_campus_id(institution, person),
                                kinds=(ServicePoint.Kind.DESK, ServicePoint.Kind.WINDOW))
    view = staffed[0] if staffed else None
    return {
        "service_point": view.name if view else "",
        "location": view.location if view else "",
        "hours": view.point.hours if view else "",
        "today": view.today if view else "",
        "open_now": view.open_now if view else False,
        "phone": view.phone if view else institution.hotline,
        "hotline": institution.hotline,
        "hotline_hours": institution.hotline_hours,
        "hotline_open_now": points.hotline_open(institution),
        "url": reverse("portal:service_points"),
    }


def _actions(*, tokens: list[str], entry: Entry | None, person: Person | None) -> list[dict]:
    words = set(tokens)
    actions: list[dict] = []
    if entry is not None and entry.slug == LOSS_SLUG:
        for card in Card.objects.filter(person=person, state=Card.State.ACTIVE).order_by("number") if person else []:
            actions.append({"intent": "report_lost", "card": card.number, "confirm": True,
                            "label": _("Report card %(number)s lost now") % {"number": card.number}})
    if words & BALANCE_WORDS:
        actions.append({"intent": "balance", "confirm": False, "label": _("Show my balance")})
    if words & KIOSK_WORDS:
        actions.append({"intent": "nearest_kiosk", "confirm": False, "label": _("Nearest open kiosk")})
    return actions


def ask(*, institution: Institution, question: str, language: str = "", person: Person | None = None,
        channel: str = "portal", log: bool = True) -> Answer:
    """Answer ``question`` from the institution's knowledge base. The language is the question's own when it
    is clearly Chinese or English, else ``language`` (the request's)."""
    question = (question or "").strip()
    if not question:
        raise DomainError("assistant_question_empty")
    if len(question) > MAX_QUESTION:
        raise DomainError("assistant_question_too_long")
    if ranker.is_chinese(question):
        lang = "zh-hans"
    elif any(c.isalpha() for c in question):
        lang = "en"
    else:
        lang = "en" if (language or "").startswith("en") else "zh-hans"
    index, entries = index_for(institution_id=institution.pk)
    hits, tokens = index.rank(question)
    confident = decide(hits=hits)
    best = entries[hits[0].index] if hits else None
    elsewhere = index.only_in(question, {i for i, e in enumerate(entries) if e.redirect})
    if elsewhere is not None and elsewhere[1] >= REDIRECT_SHARE:
        confident, best = True, entries[elsewhere[0]]  # answered by the redirect: another office's question
    with translation.override(lang):
        if confident and best is not None and best.redirect:
            # not the Card Center's to answer: say who handles it, name the source, and show human help
            help_ = handoff(institution=institution, person=person)
            answer = Answer(text=" ".join([best.shown_body(lang), *_help_text(help_)]), confident=False,
                            language=lang, entry=best, redirect=True, handoff=help_,
                            sources=[{"title": best.shown_title(lang), "url": entry_url(entry=best, language=lang)}])
        elif confident and best is not None:
            answer = Answer(text=best.shown_body(lang), confident=True, language=lang, entry=best,
                            sources=[{"title": best.shown_title(lang), "url": entry_url(entry=best, language=lang)}])
        else:
            help_ = handoff(institution=institution, person=person)
            answer = Answer(text=_unsure_text(help_), confident=False, language=lang, handoff=help_)
        answer.actions = _actions(tokens=tokens, entry=best if answer.confident else None, person=person)
    if log:
        # a redirect is logged as unsure, with its entry: operators review it in "to improve" like any decline
        outcome = Question.Outcome.ANSWERED if answer.confident else Question.Outcome.UNSURE
        answer.question_id = Question.objects.create(
            institution=institution, person=person, text=question[:MAX_QUESTION], language=lang, channel=channel[:20],
            outcome=outcome,
            entry=best, score=hits[0].score if hits else 0.0, coverage=hits[0].coverage if hits else 0.0,
            asked_at=clock.now()).pk
    return answer


def _unsure_text(help_: dict) -> str:
    return " ".join([_("I am not sure I can answer that from the Card Center's knowledge base."), *_help_text(help_)])


def _help_text(help_: dict) -> list[str]:
    parts = []
    if help_["service_point"]:
        state = _("open now") if help_["open_now"] else _("closed now")
        parts.append(_("People can help: %(point)s (%(location)s), today %(today)s, %(state)s, tel. %(phone)s.") % {
            "point": help_["service_point"], "location": help_["location"], "today": help_["today"] or "—",
            "state": state, "phone": help_["phone"]})
    if help_["hotline"]:
        parts.append(_("Hotline %(hotline)s (%(hours)s).") % {"hotline": help_["hotline"],
                                                              "hours": help_["hotline_hours"]})
    return parts


# --- intents ----------------------------------------------------------------------------------------

def balance_of(*, person: Person) -> dict:
    views = [v for v in card_selectors.cards_of(person) if v.card.state == Card.State.ACTIVE]
    return {"cards": [{"card": v.card.number, "kind": v.card.kind, "balance_fen": v.balance} for v in views],
            "url": reverse("portal:wallet")}


def nearest_kiosk(*, institution: Institution, person: Person | None) -> dict | None:
    kiosks = points.open_first(institution, campus_id=_campus_id(institution, person), kinds=(ServicePoint.Kind.KIOSK,))
    if not kiosks:
        return None
    view = kiosks[0]
    return {"service_point": view.name, "location": view.location, "today": view.today, "open_now": view.open_now,
            "capabilities": view.capabilities, "url": reverse("portal:service_points")}


def report_lost(*, actor: Actor, person: Person, card_number: str, confirmed: bool) -> Card:
    """The assistant's loss report: only with the holder's explicit confirmation, through cards.services."""
    card = card_selectors.card_of(person, card_number)
    if not confirmed:
        raise DomainError("assistant_confirm_required")
    return card_services.card_report_lost(actor=actor, card=card, channel="assistant")


def question_review(*, questions, reviewed: bool = True) -> int:
    with transaction.atomic():
        return questions.update(reviewed=reviewed)


def questions_teach(*, questions) -> int:
    """Add each question to its best entry's "ways holders ask" (once) and mark it reviewed: the assistant
    answers that phrasing, and ones like it, from then on (the index follows the entries' change). Returns how
    many entries gained an example. Questions without a best entry are only marked reviewed."""
    changed = 0
    with transaction.atomic():
        by_entry: dict[int, list[str]] = {}
        for entry_id, text in questions.exclude(entry=None).values_list("entry_id", "text"):
            by_entry.setdefault(entry_id, []).append(" ".join(text.split()))
        for entry in Entry.objects.select_for_update().filter(pk__in=by_entry):
            have = [line for line in entry.examples.splitlines() if line.strip()]
            new = [text for text in dict.fromkeys(by_entry[entry.pk]) if text not in have]
            if new:
                entry.examples = "\n".join(have + new)
                entry.save(update_fields=["examples", "updated_at"])
                changed += 1
        questions.update(reviewed=True)
    return changed

