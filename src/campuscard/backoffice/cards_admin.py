"""Back office: cards at the service window, photo review, the production queue, old meal cards,
graduation, balance moves, package add-ons, bulk issuing (batches per unit, hand-over) and one card at the
window."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline

from campuscard.backoffice.person import person_page_link
from campuscard.backoffice.scoped import ReadOnlyAdmin, ScopedAdmin
from campuscard.cards import imports, issuing, selectors, services
from campuscard.cards.models import (
    BalanceMove,
    Card,
    Credential,
    IssueBatch,
    IssueRun,
    LegacyMealCard,
    PackageAddon,
    Photo,
    Production,
)
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import ServicePoint
from campuscard.core.money import format_fen
from campuscard.core.permissions import can, restrict
from campuscard.enrollment.tasks import terminal_face
from campuscard.identity.models import Person
from campuscard.ledger.selectors import account_balances


def _each(request, queryset, fn, done_message, **kwargs) -> None:
    """Run a card service per selected row; report refusals by their message, never half-silently."""
    done, as_ = 0, kwargs.pop("as_", "card")  # popped once: every row is passed under the same name
    for obj in queryset:
        try:
            fn(actor=Actor.by_user(request.user), **{as_: obj}, **kwargs)
            done += 1
        except DomainError as error:
            messages.error(request, f"{obj}: {error.message}")
    if done:
        messages.success(request, done_message % {"count": done})


class CredentialInline(TabularInline):
    model = Credential
    extra = 0
    fields = ["kind", "token", "uid", "active", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class DepartmentForm(forms.Form):
    department = forms.CharField(label=_("New department"), max_length=100)
    reissue = forms.BooleanField(label=_("Re-issue the card (free)"), required=False)


class WindowIssueForm(forms.Form):
    person = forms.ModelChoiceField(label=_("Person"), queryset=Person.objects.none())
    physical = forms.BooleanField(label=_("Also a physical card (needs an approved photo)"), required=False)
    collect_point = forms.ModelChoiceField(label=_("Collect the physical card at"), required=False,
                                           queryset=ServicePoint.objects.none(),
                                           help_text=_("Empty: a Card Center window of the person's campus."))

    def __init__(self, *args, people, points, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = people
        self.fields["collect_point"].queryset = points


FEE_PAYMENT_LABELS = {"balance": _("from the card's balance"), "cash": _("in cash, received at the window"),
                      "first_recharge": _("from the new card's first recharge")}


class WindowReplaceForm(forms.Form):
    """A replacement at the window (CARD-5, #17 items 7 and 10): the form, where a physical card waits, and how
    the fee is paid — cash at the window when the lost card holds too little."""

    physical = forms.BooleanField(label=_("Physical card (needs an approved photo)"), required=False)
    collect_point = forms.ModelChoiceField(label=_("Collect the physical card at"), required=False,
                                           queryset=ServicePoint.objects.none())
    fee_payment = forms.ChoiceField(label=_("Pay the replacement fee"), required=False, choices=())

    def __init__(self, *args, places, payments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["collect_point"].queryset = ServicePoint.objects.filter(pk__in=[p.pk for p in places])
        self.fields["fee_payment"].choices = [(way, FEE_PAYMENT_LABELS[way]) for way in payments]
        if not payments:
            del self.fields["fee_payment"]


class NfcBindForm(forms.Form):
    uid = forms.CharField(label=_("NFC UID (hex)"), max_length=32)


@admin.register(Card)
class CardAdmin(ScopedAdmin):
    list_display = ["number", "person", "kind", "state", "physical", "balance", "issued_at"]
    list_filter = ["state", "kind", "physical", "institution"]
    search_fields = ["number", "person__number", "person__name"]  # and the holder's whole ID number, below
    readonly_fields = ["institution", "person", "person_page", "kind", "number", "state", "physical", "wallet_link",
                       "nfc_link",
                       "replace_link", "department_link", "replaces", "issued_at", "state_changed_at"]
    fields = readonly_fields
    inlines = [CredentialInline]
    list_select_related = ["person"]
    actions = ["report_lost", "unreport", "freeze", "unfreeze", "replace_virtual", "replace_physical", "refund_balance",
               "refund_balance_cash"]

    def get_search_results(self, request, queryset, search_term):
        """The holder's ID number only whole, through its blind index (encrypted, #18 item 7)."""
        results, duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            results = results | queryset.filter(person__id_number=search_term.strip())
        return results, duplicates

    def add_view(self, request, form_url="", extra_context=None):
        """"Add card" is one card at the window (issue #16 item 7), through the service's checks."""
        return redirect("admin:cards_card_issue")

    @admin.display(description=_("balance"))
    def balance(self, obj):
        return format_fen(account_balances(account_id=obj.wallet_account_id).posted)

    @admin.display(description=_("person page"))
    def person_page(self, obj):
        """The holder's page: this card's events with who did them, the wallet, applications … (#17 item 5)."""
        return person_page_link(obj.person)

    @admin.display(description=_("wallet"))
    def wallet_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:ledger_account_change", args=[obj.wallet_account_id]),
                           self.balance(obj))

    @admin.display(description=_("staff department change"))
    def department_link(self, obj):
        if obj.kind != Card.Kind.STAFF:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:cards_card_department", args=[obj.pk]),
                           _("change department (free re-issue optional)"))

    @admin.display(description=_("physical card (NFC)"))
    def nfc_link(self, obj):
        uid = obj.credentials.filter(kind=Credential.Kind.NFC, active=True).values_list("uid", flat=True).first()
        return format_html('{} <a href="{}">{}</a>', uid or "—", reverse("admin:cards_card_nfc", args=[obj.pk]),
                           _("bind a card"))

    @admin.action(description=_("Report lost (service window)"), permissions=["change"])
    def report_lost(self, request, queryset):
        _each(request, queryset, services.card_report_lost, _("%(count)s card(s) reported lost."), channel="window")

    @admin.action(description=_("Take the loss report back (ID checked in person)"), permissions=["change"])
    def unreport(self, request, queryset):
        _each(request, queryset, services.card_unreport, _("%(count)s card(s) work again; the holders are notified."),
              channel="window")

    @admin.action(description=_("Freeze"), permissions=["change"])
    def freeze(self, request, queryset):
        _each(request, queryset, services.card_freeze, _("%(count)s card(s) frozen."))

    @admin.action(description=_("Unfreeze"), permissions=["change"])
    def unfreeze(self, request, queryset):
        _each(request, queryset, services.card_freeze, _("%(count)s card(s) unfrozen."), frozen=False)

    @admin.action(description=_("Replace with a virtual card (fee from balance)"), permissions=["change"])
    def replace_virtual(self, request, queryset):
        _each(request, queryset, services.card_replace, _("%(count)s card(s) replaced."), physical=False,
              channel="window")

    @admin.action(description=_("Replace with a physical card (fee from balance)"), permissions=["change"])
    def replace_physical(self, request, queryset):
        _each(request, queryset, services.card_replace, _("%(count)s card(s) replaced."), physical=True,
              channel="window")

    @admin.action(description=_("Refund the whole balance to the holder"), permissions=["change"])
    def refund_balance(self, request, queryset):
        _each(request, queryset, services.balance_refund, _("%(count)s balance(s) refunded."))

    @admin.action(description=_("Refund the whole balance in cash at the window"), permissions=["change"])
    def refund_balance_cash(self, request, queryset):
        """Out of the operator's drawer: their cash shift counts it (#18 item 8)."""
        _each(request, queryset, services.balance_refund, _("%(count)s balance(s) refunded in cash."), cash=True)

    def get_urls(self):
        return [path("issue/", self.admin_site.admin_view(self.issue_view), name="cards_card_issue"),
                path("<int:pk>/nfc/", self.admin_site.admin_view(self.nfc_view), name="cards_card_nfc"),
                path("<int:pk>/department/", self.admin_site.admin_view(self.department_view),
                     name="cards_card_department"),
                path("<int:pk>/replace/", self.admin_site.admin_view(self.replace_view), name="cards_card_replace"),
                *super().get_urls()]

    def department_view(self, request, pk: int):
        """CARD-8 at the service window: record the new department; re-issue only if the holder wants."""
        card = get_object_or_404(self.get_queryset(request).select_related("person"), pk=pk)
        if not self.has_change_permission(request, card):
            raise PermissionDenied
        form = DepartmentForm(request.POST or None, initial={"department": card.person.department})
        if request.method == "POST" and form.is_valid():
            try:
                new = services.staff_department_change(actor=Actor.by_user(request.user), person=card.person,
                                                       department=form.cleaned_data["department"],
                                                       reissue=form.cleaned_data["reissue"])
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Department changed.") if new is None else
                                 _("Department changed; new card %(number)s issued free of charge.")
                                 % {"number": new.number})
                return redirect("admin:cards_card_change", (new or card).pk)
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "title": _("Staff department change"),
            "note": _("No need, no change: re-issue is free and optional. The campus wallet follows the person; "
                      "a transit purse on the old card does not transfer — tell the holder.")})

    def issue_view(self, request):
        """One card to one person at the window: a new staff member mid-year, a temporary worker, a visitor."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        people = restrict(Person.objects.all(), request.user, "view")
        points = restrict(ServicePoint.objects.filter(kind__in=services.COLLECT_KINDS), request.user, "view")
        initial = {"person": request.GET.get("person")} if request.GET.get("person") else {}
        form = WindowIssueForm(request.POST or None, initial=initial, people=people, points=points)
        if request.method == "POST" and form.is_valid():
            try:
                card = issuing.card_window_issue(actor=Actor.by_user(request.user), person=form.cleaned_data["person"],
                                                 physical=form.cleaned_data["physical"],
                                                 collect_point=form.cleaned_data["collect_point"])
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Card %(number)s issued to %(name)s.")
                                 % {"number": card.number, "name": card.person.name})
                return redirect("admin:cards_card_change", card.pk)
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "title": _("Issue a card at the window"),
            "submit": _("Issue the card"),
            "note": _("The card's kind follows the person (staff, temporary, visitor, student). One live card per "
                      "kind; a physical card needs an approved photo and is collected at the window chosen.")})

    @admin.display(description=_("replacement"))
    def replace_link(self, obj):
        if obj.state not in (Card.State.ACTIVE, Card.State.LOST, Card.State.FROZEN):
            return "—"
        return format_html('<a href="{}" id="window-replace-link">{}</a>',
                           reverse("admin:cards_card_replace", args=[obj.pk]),
                           _("replace at the window (fee from the balance, in cash or from the first recharge)"))

    def replace_view(self, request, pk: int):
        """CARD-5 at the window: the operator takes the fee in cash when the lost card holds too little (#17)."""
        card = get_object_or_404(self.get_queryset(request).select_related("person"), pk=pk)
        if not self.has_change_permission(request, card):
            raise PermissionDenied
        preview = selectors.replacement_preview(card=card, fee=services.replacement_fee(card=card), channel="window")
        form = WindowReplaceForm(request.POST or None, places=selectors.collect_places(person=card.person),
                                 payments=preview.fee_payments,
                                 initial={"collect_point": preview.collect_point, "fee_payment": preview.fee_paid})
        if request.method == "POST" and form.is_valid():
            try:
                new = services.card_replace(actor=Actor.by_user(request.user), card=card, channel="window",
                                            physical=form.cleaned_data["physical"],
                                            fee_payment=form.cleaned_data.get("fee_payment") or "balance",
                                            collect_point=form.cleaned_data["collect_point"])
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Card %(number)s replaced by %(new)s.")
                                 % {"number": card.number, "new": new.number})
                return redirect("admin:cards_card_change", new.pk)
        note = (_("Replacement fee %(fee)s, already paid in cash at a kiosk. Balance %(balance)s moves to the new "
                  "card.") if preview.fee_paid == "paid" else
                _("Replacement fee %(fee)s; this card's balance %(balance)s. Cash or the first recharge leave the "
                  "whole balance to move to the new card.")) % {"fee": format_fen(preview.fee),
                                                                "balance": format_fen(preview.balance)}
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "note": note, "submit": _("Replace the card"),
            "title": _("Replace card %(number)s at the window") % {"number": card.number}})

    def nfc_view(self, request, pk: int):
        card = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, card):
            raise PermissionDenied
        form = NfcBindForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.nfc_bind(actor=Actor.by_user(request.user), card=card, uid=form.cleaned_data["uid"])
            except DomainError as error:
                form.add_error("uid", error.message)
            else:
                messages.success(request, _("NFC card bound."))
                return redirect("admin:cards_card_change", card.pk)
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "title": _("Bind a physical card (NFC)")})


@admin.register(Photo)
class PhotoAdmin(ScopedAdmin):
    list_display = ["thumbnail", "person", "state", "uploaded_at", "effective_from", "reviewed_by"]
    list_filter = ["state"]
    search_fields = ["person__number", "person__name"]
    readonly_fields = ["thumbnail_large", "person", "state", "reason", "uploaded_at", "reviewed_at", "reviewed_by",
                       "effective_from"]
    fields = readonly_fields
    actions = ["approve"]
    change_form_template = "backoffice/photo_change_form.html"

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("photo"))
    def thumbnail(self, obj):
        return format_html('<img src="{}" style="height:56px;border-radius:6px">', obj.image.url)

    @admin.display(description=_("photo"))
    def thumbnail_large(self, obj):
        return format_html('<img src="{}" style="max-height:320px;border-radius:8px">', obj.image.url)

    @admin.action(description=_("Approve (effective tomorrow)"), permissions=["change"])
    def approve(self, request, queryset):
        self._approve(request, queryset)

    def _approve(self, request, photos) -> None:
        _each(request, photos, services.photo_review, _("%(count)s photo(s) approved."), as_="photo", approve=True)
        for photo_id in Photo.objects.filter(pk__in=[p.pk for p in photos], state=Photo.State.APPROVED).values_list(
                "pk", flat=True):
            transaction.on_commit(lambda photo_id=photo_id: terminal_face(photo_id))  # ID-7, in the worker

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The decision is the Approve / Reject buttons above the form (#17), as on an appeal's page; there
        is nothing to save, so the page has no Save button."""
        extra_context = dict(extra_context or {})
        photo = self.get_object(request, object_id)
        if photo is not None and photo.state == Photo.State.PENDING and self.has_change_permission(request, photo):
            extra_context["approve_url"] = reverse("admin:cards_photo_approve", args=[photo.pk])
            extra_context["reject_url"] = reverse("admin:cards_photo_reject", args=[photo.pk])
        extra_context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        """Every field is read-only: a Save (a stale page, a resend) changes nothing — the buttons decide."""

    def response_change(self, request, obj):
        messages.info(request, _("Nothing was changed. Approve or reject the photo with the buttons above."))
        return redirect("admin:cards_photo_change", obj.pk)

    def get_urls(self):
        return [path("<int:pk>/approve/", self.admin_site.admin_view(self.approve_view), name="cards_photo_approve"),
                path("<int:pk>/reject/", self.admin_site.admin_view(self.reject_view), name="cards_photo_reject"),
                *super().get_urls()]

    def _decided_photo(self, request, pk: int) -> Photo | None:
        if request.method != "POST":
            return None
        photo = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, photo):
            raise PermissionDenied
        return photo

    def approve_view(self, request, pk: int):
        if (photo := self._decided_photo(request, pk)) is None:
            return redirect("admin:cards_photo_change", pk)
        self._approve(request, [photo])
        return redirect("admin:cards_photo_changelist")

    def reject_view(self, request, pk: int):
        """Reject with the reason the holder reads; without a reason the page says so and nothing changes."""
        if (photo := self._decided_photo(request, pk)) is None:
            return redirect("admin:cards_photo_change", pk)
        try:
            services.photo_review(actor=Actor.by_user(request.user), photo=photo, approve=False,
                                  reason=request.POST.get("reason", ""))
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("admin:cards_photo_change", pk)
        messages.success(request, _("Photo rejected; the holder is notified."))
        return redirect("admin:cards_photo_changelist")


@admin.register(Production)
class ProductionAdmin(ScopedAdmin):
    list_display = ["card", "holder", "state", "due_date", "collect_where", "batch", "face_link"]
    list_filter = ["state", "collect_point", "batch"]
    search_fields = ["card__number", "card__person__name", "card__person__number"]
    readonly_fields = ["card", "state", "due_date", "collect_where", "batch", "requested_at", "printed_at", "ready_at",
                       "collected_at", "signed_by"]
    fields = readonly_fields
    list_select_related = ["card__person", "collect_point", "batch"]
    actions = ["mark_printed", "mark_at_kiosk", "mark_collected"]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("holder"))
    def holder(self, obj):
        return obj.card.person

    @admin.display(description=_("collect at"))
    def collect_where(self, obj):
        return obj.collect_where or "—"

    @admin.display(description=_("card face"))
    def face_link(self, obj):
        return format_html('<a href="{}" target="_blank">{}</a>', reverse("admin:cards_production_face", args=[obj.pk]),
                           _("print"))

    def _advance(self, request, queryset, target):
        _each(request, queryset, services.production_advance, _("%(count)s card(s) updated."), as_="production",
              target=target)

    @admin.action(description=_("Mark printed"), permissions=["change"])
    def mark_printed(self, request, queryset):
        self._advance(request, queryset, Production.State.PRINTED)

    @admin.action(description=_("Mark ready for collection (notifies the holder)"), permissions=["change"])
    def mark_at_kiosk(self, request, queryset):
        self._advance(request, queryset, Production.State.AT_KIOSK)

    @admin.action(description=_("Mark collected"), permissions=["change"])
    def mark_collected(self, request, queryset):
        self._advance(request, queryset, Production.State.COLLECTED)

    def get_urls(self):
        return [path("<int:pk>/face/", self.admin_site.admin_view(self.face_view), name="cards_production_face"),
                *super().get_urls()]

    def face_view(self, request, pk: int):
        """The printable card face: photo, name, number, institution and a QR of the card number."""
        production = get_object_or_404(self.get_queryset(request).select_related("card__person__institution"), pk=pk)
        card = production.card
        return TemplateResponse(request, "cards/card_face.html", {
            "card": card, "person": card.person, "photo": selectors.photo_status(card.person)["approved"],
            "qr": selectors.qr_svg(card.number, scale=3)})


class LegacyImportForm(forms.Form):
    file = forms.FileField(label=_("Export of the old meal-card system (CSV: old_number, number, balance)"))


class GraduationForm(forms.Form):
    file = forms.FileField(label=_("Registrar's graduation list (CSV or XLSX with a 'number' column)"))


@admin.register(LegacyMealCard)
class LegacyMealCardAdmin(ReadOnlyAdmin):
    list_display = ["old_number", "person", "balance_display", "imported_at", "migrated_at"]
    search_fields = ["old_number", "person__number", "person__name"]
    list_filter = ["institution"]
    change_list_template = "backoffice/with_tools_change_list.html"

    @admin.display(description=_("balance"), ordering="balance")
    def balance_display(self, obj):
        return format_fen(obj.balance)

    def changelist_view(self, request, extra_context=None):
        tools = [(reverse("admin:cards_legacy_import"), _("Import old meal cards")),
                 (reverse("admin:cards_graduation"), _("Run a graduation list"))]
        return super().changelist_view(request, {**(extra_context or {}), "tools": tools})

    def get_urls(self):
        return [path("import/", self.admin_site.admin_view(self.import_view), name="cards_legacy_import"),
                path("graduation/", self.admin_site.admin_view(self.graduation_view), name="cards_graduation"),
                *super().get_urls()]

    def _upload(self, request, form_class, title, run, permission):
        if not request.user.has_perm(permission) or not request.user.institution_id:
            raise PermissionDenied
        form = form_class(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                summary = run(actor=Actor.by_user(request.user), institution=request.user.institution, name=upload.name,
                              stream=upload.file)
            except DomainError as error:
                form.add_error(None, error.message)
                for row in (error.details or {}).get("errors", [])[:50]:
                    form.add_error(None, f"#{row['line']} {row['column']}: {row['message']}")
            else:
                messages.success(request, summary)
                return redirect("admin:cards_legacymealcard_changelist")
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "title": title, "multipart": True})

    def import_view(self, request):
        return self._upload(request, LegacyImportForm, _("Import old meal cards"), imports.legacy_import,
                            "cards.add_legacymealcard")

    def graduation_view(self, request):
        return self._upload(request, GraduationForm, _("Run a graduation list"), imports.graduation_run,
                            "cards.change_card")


@admin.register(BalanceMove)
class BalanceMoveAdmin(ReadOnlyAdmin):
    list_display = ["old_card", "new_card", "state", "due_at", "amount", "done_at"]
    list_filter = ["state"]


@admin.register(PackageAddon)
class PackageAddonAdmin(ScopedAdmin):
    """Card Center operators add an add-on to a holder's card package (APP-4) or take it away; holders do
    the same in the portal and the API. Through the services: one active row per add-on, audited."""

    list_display = ["person", "addon", "granted_at", "revoked_at"]
    list_filter = ["addon", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["person__number", "person__name"]
    raw_id_fields = ["person"]
    fields = ["person", "addon"]
    actions = ["revoke"]
    list_select_related = ["person"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)  # the action only: rows stay as granted

    def save_model(self, request, obj, form, change):
        granted = services.package_addon_grant(actor=Actor.by_user(request.user), person=obj.person, addon=obj.addon)
        obj.pk, obj.granted_at = granted.pk, granted.granted_at

    @admin.action(description=_("Revoke selected add-ons"), permissions=["change"])
    def revoke(self, request, queryset):
        for grant in queryset.filter(revoked_at=None).select_related("person"):
            services.package_addon_revoke(actor=Actor.by_user(request.user), person=grant.person, addon=grant.addon)
        self.message_user(request, _("Revoked."), messages.SUCCESS)


# --- bulk issuing (APP-7) -------------------------------------------------------------------------

class IssueRunForm(forms.Form):
    department = forms.CharField(label=_("Department / unit"), max_length=100, required=False)
    title = forms.CharField(label=_("Class / programme"), max_length=100, required=False)
    enrollment_year = forms.IntegerField(label=_("Intake year"), required=False, min_value=1900, max_value=2100)
    person_kind = forms.ChoiceField(label=_("Kind of person"), required=False, choices=[
        ("", _("all")), *[(k, Person.Kind(k).label) for k in issuing.BULK_KINDS]])


class HandoverForm(forms.Form):
    received_by = forms.CharField(label=_("Received at the unit by"), max_length=100)


def _own_institution(request, form):
    institution = request.user.institution
    if institution is None:  # the platform administrator works inside one institution
        form.add_error(None, _("Sign in as an operator of the institution to issue its cards."))
    return institution


@admin.register(IssueRun)
class IssueRunAdmin(ReadOnlyAdmin):
    """A roster slice issued in bulk: its progress, its batches per unit, who had no photo."""

    list_display = ["pk", "__str__", "person_kind", "state", "progress", "issued", "already", "missing_count",
                    "created_by", "created_at"]
    list_filter = ["state"]
    readonly_fields = ["department", "title", "enrollment_year", "person_kind", "state", "progress", "issued",
                       "already", "batches_links", "missing_list", "error", "created_by", "created_at", "finished_at"]
    fields = readonly_fields
    change_list_template = "backoffice/with_tools_change_list.html"
    change_form_template = "backoffice/issue_run_change_form.html"

    def has_add_permission(self, request):
        return request.user.has_perm("cards.add_issuerun")

    @admin.display(description=_("progress"))
    def progress(self, obj):
        return f"{obj.done} / {obj.total}"

    @admin.display(description=_("without a photo"))
    def missing_count(self, obj):
        return len(obj.missing_photo)

    @admin.display(description=_("batches"))
    def batches_links(self, obj):
        rows = [format_html('<a href="{}">#{} {}</a> ({})', reverse("admin:cards_issuebatch_change", args=[b.pk]),
                            b.pk, b.unit, b.get_state_display()) for b in obj.batches.order_by("unit")]
        return format_html_join(mark_safe("<br>"), "{}", ((r,) for r in rows)) if rows else "—"

    @admin.display(description=_("without an approved photo (told to upload one and collect at the Card Center)"))
    def missing_list(self, obj):
        if not obj.missing_photo:
            return "—"
        return format_html_join(mark_safe("<br>"), "{} {} · {}",
                                ((m["number"], m["name"], m["department"]) for m in obj.missing_photo))

    def changelist_view(self, request, extra_context=None):
        tools = [(reverse("admin:cards_issuerun_add"), _("Issue cards in bulk"))] if self.has_add_permission(
            request) else []
        return super().changelist_view(request, {**(extra_context or {}), "tools": tools})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        if run is not None and run.state in (IssueRun.State.QUEUED, IssueRun.State.RUNNING):
            messages.info(request, _("Issuing: %(done)s of %(total)s people done. This page refreshes itself.")
                          % {"done": run.done, "total": run.total or "…"})
            extra_context = {**(extra_context or {}), "refresh_seconds": 2}
        return super().change_view(request, object_id, form_url, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = IssueRunForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            institution = _own_institution(request, form)
            if institution is not None:
                data = form.cleaned_data
                try:
                    run = issuing.issue_batch_create(
                        actor=Actor.by_user(request.user), institution=institution, department=data["department"],
                        title=data["title"], enrollment_year=data["enrollment_year"],
                        person_kind=data["person_kind"], background=True)
                except DomainError as error:
                    form.add_error(None, error.message)
                else:
                    messages.success(request, _("Bulk issuing started: run #%(pk)s.") % {"pk": run.pk})
                    return redirect("admin:cards_issuerun_change", run.pk)
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "title": _("Issue cards in bulk"),
            "submit": _("Issue the cards"),
            "note": _("Everyone in the selection who is registered, has an approved photo and no card of their kind "
                      "gets a physical card (the virtual card works at once), in one batch per unit. People without "
                      "a photo are listed on the run and told to upload one. Running the same selection again "
                      "issues nothing twice.")})


@admin.register(IssueBatch)
class IssueBatchAdmin(ReadOnlyAdmin):
    """One unit's cards: print the sheet, hand the batch over to the unit, then each card to its holder."""

    list_display = ["pk", "unit", "run", "state", "cards", "received_by", "handed_over_at", "sheet_link"]
    list_filter = ["state"]
    search_fields = ["unit", "received_by"]
    readonly_fields = ["unit", "run", "state", "cards", "printed_at", "received_by", "handed_over_at",
                       "handed_over_by", "sheet_link"]
    fields = readonly_fields
    actions = ["mark_printed"]
    change_list_template = "backoffice/issue_batch_change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(card_count=Count("productions"))

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("cards.change_issuebatch") and (obj is None or can(request.user, "change", obj))

    @admin.display(description=_("cards"), ordering="card_count")
    def cards(self, obj):
        return obj.card_count

    @admin.display(description=_("batch sheet"))
    def sheet_link(self, obj):
        return format_html('<a href="{}" target="_blank" id="sheet-{}">{}</a>',
                           reverse("admin:cards_issuebatch_sheet", args=[obj.pk]), obj.pk, _("print"))

    @admin.action(description=_("Mark printed"), permissions=["change"])
    def mark_printed(self, request, queryset):
        _each(request, queryset, issuing.issue_batch_print, _("%(count)s batch(es) marked printed."), as_="batch")

    def changelist_view(self, request, extra_context=None):
        counts = dict(restrict(IssueBatch.objects.all(), request.user, "view").order_by().values_list("state")
                      .annotate(n=Count("pk")))
        top = max(counts.values(), default=0) or 1
        chart = [{"label": label, "state": state, "count": counts.get(state, 0),
                  "width": round(100 * counts.get(state, 0) / top)} for state, label in IssueBatch.State.choices]
        return super().changelist_view(request, {**(extra_context or {}), "chart": chart})

    def get_urls(self):
        return [path("<int:pk>/sheet/", self.admin_site.admin_view(self.sheet_view), name="cards_issuebatch_sheet"),
                path("<int:pk>/handover/", self.admin_site.admin_view(self.handover_view),
                     name="cards_issuebatch_handover"),
                *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = self.get_object(request, object_id)
        if batch is not None and self.has_change_permission(request, batch):
            return redirect("admin:cards_issuebatch_handover", batch.pk)
        return super().change_view(request, object_id, form_url, extra_context)

    def _batch(self, request, pk: int) -> IssueBatch:
        return get_object_or_404(self.get_queryset(request).select_related("run"), pk=pk)

    def sheet_view(self, request, pk: int):
        """The printable batch sheet: the unit, the cards with numbers and names, a line to sign for each."""
        batch = self._batch(request, pk)
        productions = (batch.productions.select_related("card__person").order_by("card__person__number"))
        return TemplateResponse(request, "cards/issue_batch_sheet.html", {
            "batch": batch, "productions": productions, "institution": batch.institution})

    def handover_view(self, request, pk: int):
        """Hand the batch over to the unit (who received it), then each card to its holder (their signature)."""
        batch = self._batch(request, pk)
        if not self.has_change_permission(request, batch):
            raise PermissionDenied
        actor = Actor.by_user(request.user)
        form = HandoverForm(request.POST if request.POST.get("step") == "unit" else None)
        if request.method == "POST":
            try:
                step = request.POST.get("step")
                if step == "print":
                    issuing.issue_batch_print(actor=actor, batch=batch)
                    messages.success(request, _("Batch marked printed."))
                elif step == "unit" and form.is_valid():
                    issuing.issue_batch_handover(actor=actor, batch=batch, received_by=form.cleaned_data["received_by"])
                    messages.success(request, _("Batch handed over to the unit; the holders are told to collect there."))
                elif step == "person":
                    card = get_object_or_404(Card.objects.filter(production__batch=batch),
                                             pk=request.POST.get("card"))
                    issuing.issue_batch_person_handover(actor=actor, batch=batch, card=card,
                                                        signed_by=request.POST.get("signed_by", ""))
                    messages.success(request, _("Card %(number)s handed to its holder.") % {"number": card.number})
                if step != "unit" or form.is_valid():
                    return redirect("admin:cards_issuebatch_handover", batch.pk)
            except DomainError as error:
                messages.error(request, error.message)
                return redirect("admin:cards_issuebatch_handover", batch.pk)
        batch.refresh_from_db()
        return TemplateResponse(request, "backoffice/issue_batch_handover.html", {
            **self.admin_site.each_context(request), "title": _("Batch #%(pk)s · %(unit)s") % {"pk": batch.pk,
                                                                                           "unit": batch.unit},
            "batch": batch, "form": form,
            "productions": batch.productions.select_related("card__person").order_by("card__person__number")})
