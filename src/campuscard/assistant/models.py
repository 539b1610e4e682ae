"""The assistant's knowledge base and the questions it was asked (SUP-1)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from campuscard.core.models import Institution
from campuscard.core.permissions import RestrictedQuerySet
from campuscard.identity.models import Person


class Entry(models.Model):
    """One FAQ entry of an institution's Card Center, in Chinese and English. Operators edit it in the back
    office; the assistant's index is rebuilt from these rows whenever one changes."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="assistant_entries",
                                    verbose_name=_("institution"))
    slug = models.SlugField(_("slug"), max_length=60)
    title = models.CharField(_("title (Chinese)"), max_length=150)
    title_en = models.CharField(_("title (English)"), max_length=200)
    body = models.TextField(_("answer (Chinese)"))
    body_en = models.TextField(_("answer (English)"))
    keywords = models.TextField(_("extra keywords"), blank=True, help_text=_(
        "other words holders use for this topic, in either language, separated by spaces or commas"))
    examples = models.TextField(_("ways holders ask"), blank=True, help_text=_(
        "questions as holders type them, one per line (from \"Questions asked\"): the assistant learns the "
        "phrasings from them"))
    link = models.CharField(_("related portal page"), max_length=200, blank=True,
                            help_text=_('a portal path such as "/cards/", shown under the answer'))
    published = models.BooleanField(_("published"), default=True)
    redirect = models.BooleanField(_("handled elsewhere"), default=False, help_text=_(
        "the Card Center does not handle this (bank cards, ID cards, the campus network …): the answer says who "
        "does, and the assistant shows it as not its own answer, with the nearest human help"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("knowledge-base entry")
        verbose_name_plural = _("knowledge base")
        ordering = ["institution", "slug"]
        constraints = [models.UniqueConstraint(fields=["institution", "slug"], name="assistant_entry_slug_unique")]

    def __str__(self) -> str:
        return self.title

    def shown_title(self, language: str | None = None) -> str:
        return self.title_en if (language or get_language() or "").startswith("en") and self.title_en else self.title

    def shown_body(self, language: str | None = None) -> str:
        return self.body_en if (language or get_language() or "").startswith("en") and self.body_en else self.body


class Question(models.Model):
    """A question asked, with what the assistant answered: operators read the unanswered and unsure ones to
    improve the knowledge base."""

    institution_path = "institution"

    class Outcome(models.TextChoices):
        ANSWERED = "answered", _("answered")
        UNSURE = "unsure", _("not confident (handed to people)")
        ACTION = "action", _("offered an action")

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="assistant_questions",
                                    verbose_name=_("institution"))
    person = models.ForeignKey(Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                               verbose_name=_("holder"))
    text = models.CharField(_("question"), max_length=500)
    language = models.CharField(_("language"), max_length=10)
    channel = models.CharField(_("channel"), max_length=20, default="portal")
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, db_index=True)
    entry = models.ForeignKey(Entry, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                              verbose_name=_("best entry"))
    score = models.FloatField(_("score"), default=0)
    coverage = models.FloatField(_("coverage"), default=0, help_text=_("share of the question's words the entry has"))
    asked_at = models.DateTimeField(_("asked at"), db_index=True)
    reviewed = models.BooleanField(_("reviewed"), default=False)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("question asked")
        verbose_name_plural = _("questions asked")
        ordering = ["-asked_at", "-id"]

    def __str__(self) -> str:
        return self.text[:60]
