"""Back-office registrations: tenancy and identity here, every other app's screens in ``<app>_admin``
(imported at the end). Admin screens live in the back office, not in the apps they show (house rule 12)."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from campuscard.backoffice.person import person_overview_view, person_page_url
from campuscard.backoffice.person_selectors import action_label
from campuscard.backoffice.scoped import ReadOnlyAdmin, ScopedAdmin
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import Area, AuditLog, Building, Campus, Institution, ServicePoint
from campuscard.identity.documents import validate_document
from campuscard.identity.models import APIToken, Person, User
from campuscard.identity.selectors import may_reveal_personal_data, personal_data_masked
from campuscard.identity.services import person_personal_data_reveal
from campuscard.payments import pos
from campuscard.payments.selectors import wrong_passwords_today


class CampusInline(TabularInline):
    model = Campus
    extra = 0
    fields = ["code", "name", "name_en", "address"]


@admin.register(Institution)
class InstitutionAdmin(ScopedAdmin):
    list_display = ["code", "name", "name_en", "time_zone", "hotline"]
    search_fields = ["code", "name", "name_en"]
    inlines = [CampusInline]


@admin.register(Campus)
class CampusAdmin(ScopedAdmin):
    list_display = ["code", "name", "name_en", "institution"]
    list_filter = ["institution"]
    search_fields = ["code", "name"]


@admin.register(Area)
class AreaAdmin(ScopedAdmin):
    list_display = ["code", "name", "name_en", "campus"]
    list_filter = ["campus__institution", "campus"]
    search_fields = ["code", "name", "name_en"]


@admin.register(Building)
class BuildingAdmin(ScopedAdmin):
    list_display = ["code", "name", "kind", "area"]
    list_filter = ["kind", "area__campus__institution", "area__campus"]
    search_fields = ["code", "name", "name_en"]


@admin.register(ServicePoint)
class ServicePointAdmin(ScopedAdmin):
    list_display = ["name", "kind", "area", "location", "hours", "phone"]
    list_filter = ["kind", "area__campus__institution"]
    search_fields = ["name", "location"]


class PersonForm(forms.ModelForm):
    class Meta:
        model = Person
        fields = "__all__"  # noqa: DJ007  (the admin's fieldsets choose what is shown)

    def clean(self):
        data = super().clean()
        if data.get("id_type") and data.get("id_number"):
            try:
                data["id_number"] = validate_document(data["id_type"], data["id_number"])
            except ValueError as exc:
                self.add_error("id_number", str(exc))
        institution = data.get("institution")
        institution_id = institution.pk if institution else self.instance.institution_id
        campus = data.get("campus")
        if campus is not None and institution_id and campus.institution_id != institution_id:
            self.add_error("campus", _("This campus belongs to another institution."))  # TEN-1
        return data


@admin.register(Person)
class PersonAdmin(ScopedAdmin):
    form = PersonForm
    list_display = ["number", "name", "kind", "status", "campus", "department", "source", "institution", "page_link"]
    list_filter = ["kind", "status", "source", "campus", "institution"]
    # ID and phone numbers are encrypted: found whole through their blind index (get_search_results)
    search_fields = ["number", "name"]
    readonly_fields = ["user", "source", "created_at", "updated_at", "page_link", "cards", "payment_password_lock",
                       "id_number_masked", "phone_masked"]
    list_per_page = 50
    fieldsets = [
        (None, {"fields": ["institution", "number", "name", "kind", "status"]}),
        (_("Identity document"), {"fields": ["id_type", "id_number"]}),
        (_("Affiliation"), {"fields": ["campus", "department", "title", "enrollment_year"]}),
        (_("Contact"), {"fields": ["phone", "email"]}),
        (_("Cards"), {"fields": ["page_link", "cards", "payment_password_lock"]}),
        (_("Record"), {"fields": ["source", "user", "created_at", "updated_at"]}),
    ]

    def get_search_results(self, request, queryset, search_term):
        """Numbers and names as typed; an ID or phone number only whole, by its blind index (#18 item 7)."""
        results, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            results = results | queryset.filter(Q(id_number=term) | Q(phone=term))
        return results, duplicates

    def get_fieldsets(self, request, obj=None):
        """An operator not entitled to the numbers (``identity.reveal_personal_data``) sees them masked and
        cannot change them; an entitled one sees them in the form, and that look is audited (#18 item 7)."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or may_reveal_personal_data(user=request.user, person=obj):
            return fieldsets
        masked = {"id_number": "id_number_masked", "phone": "phone_masked"}
        return [(name, {**options, "fields": [masked.get(f, f) for f in options["fields"]]})
                for name, options in fieldsets]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            person = self.get_object(request, object_id)
            if person is not None and may_reveal_personal_data(user=request.user, person=person):
                person_personal_data_reveal(actor=Actor.by_user(request.user), person=person, where="change_form")
        return response

    @admin.display(description=_("ID number"))
    def id_number_masked(self, obj):
        return personal_data_masked(person=obj)["id_number"] if obj is not None else "—"

    @admin.display(description=_("mobile phone"))
    def phone_masked(self, obj):
        return (personal_data_masked(person=obj)["phone"] or "—") if obj is not None else "—"

    @admin.display(description=_("person page"))
    def page_link(self, obj):
        """Everything about the person on one page: cards with their events, wallet, applications, entries,
        appeals (#17 item 5)."""
        if obj is None or obj.pk is None:
            return "—"
        return format_html('<a href="{}" class="text-primary-600 font-medium" data-testid="person-page-{}">{}</a>',
                           person_page_url(obj.pk), obj.pk, _("Person page"))

    @admin.display(description=_("cards"))
    def cards(self, obj):
        """The person's cards, and "Issue a card" at the window (issue #16 item 7)."""
        if obj is None or obj.pk is None:
            return "—"
        rows = format_html_join(mark_safe("<br>"), '<a href="{}">{}</a> · {} · {}', (
            (reverse("admin:cards_card_change", args=[card.pk]), card.number, card.get_kind_display(),
             card.get_state_display()) for card in obj.cards.order_by("-issued_at")))
        issue = format_html('<a href="{}?person={}" id="issue-card" class="font-medium px-3 py-2 rounded-default '
                            'bg-primary-600 text-white inline-block mt-2">{}</a>',
                            reverse("admin:cards_card_issue"), obj.pk, _("Issue a card"))
        return format_html("{}{}", rows or "—", issue) if rows else format_html("{}<br>{}", "—", issue)


    @admin.display(description=_("payment password"))
    def payment_password_lock(self, obj):
        """Locked after too many wrong passwords today: the window unlocks it (PAY-3, #17)."""
        if obj is None or obj.pk is None:
            return "—"
        wrong = wrong_passwords_today(person=obj)
        if wrong < settings.PAYMENT_PASSWORD_MAX_WRONG:
            state = _("not set") if not obj.payment_password else (
                gettext("set · %(wrong)s wrong today") % {"wrong": wrong} if wrong else _("set"))
            return format_html('<span id="payment-password-state">{}</span>', state)
        return format_html(
            '<span id="payment-password-state" class="text-red-600 font-semibold">{}</span> '
            '<button type="submit" formaction="{}" formnovalidate id="unlock-payment-password" class="font-medium '
            'px-3 py-2 rounded-default bg-primary-600 text-white ml-2">{}</button>',
            gettext("locked: %(wrong)s wrong passwords today") % {"wrong": wrong},
            reverse("admin:identity_person_unlock_payment_password", args=[obj.pk]),
            _("Unlock (ID checked in person)"))

    def get_urls(self):
        return [path("<int:pk>/page/", self.admin_site.admin_view(self.overview_view), name="identity_person_overview"),
                path("<int:pk>/unlock-payment-password/", self.admin_site.admin_view(self.unlock_payment_password),
                     name="identity_person_unlock_payment_password"), *super().get_urls()]

    def overview_view(self, request, pk: int):
        return person_overview_view(self.admin_site, request, pk)

    def unlock_payment_password(self, request, pk: int):
        """POST from the person's page: the window clears today's wrong-password lock (audited, notified)."""
        if request.method != "POST":
            return redirect("admin:identity_person_change", pk)
        person = get_object_or_404(self.get_queryset(request), pk=pk)
        try:
            pos.payment_password_unlock(actor=Actor.by_user(request.user), person=person)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Payment password unlocked for %(who)s; the holder is notified.")
                             % {"who": f"{person.number} {person.name}"})
        return redirect("admin:identity_person_change", pk)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ScopedAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ["username", "first_name", "institution", "is_staff", "is_active", "last_login"]
    list_filter = ["institution", "is_staff", "is_active", "groups"]
    fieldsets = [
        *BaseUserAdmin.fieldsets,
        (_("CampusCard"), {"fields": ["institution", "language", "must_change_password"]}),
    ]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "user_permissions" and not request.user.is_superuser:
            kwargs["queryset"] = db_field.related_model.objects.none()
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += ["is_superuser", "user_permissions"]
        return readonly


@admin.register(APIToken)
class APITokenAdmin(ScopedAdmin):
    list_display = ["name", "prefix", "user", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]

    def has_add_permission(self, request):
        return False  # tokens are issued with `campuscard create_token` so the secret is shown once


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["at", "action_display", "object_type", "object_id", "actor", "actor_label", "institution"]
    list_filter = ["action", "object_type", "institution"]
    search_fields = ["object_id", "actor__username", "actor_label"]
    date_hierarchy = "at"

    @admin.display(description=_("action"), ordering="action")
    def action_display(self, obj):
        """What happened in words (the code stays the filter's and the search's), #17 item 5."""
        return format_html('<span title="{}">{}</span>', obj.action, action_label(obj.action))


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    """Role groups are managed by code (identity.roles); only platform admins look at them."""

    def has_module_permission(self, request):
        return request.user.is_superuser

    # Roles are shared by every institution: an institution user holding auth permissions still may not
    # open or change them (hiding the menu entry alone left the URLs open).
    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

# Every app's screens, registered with the same site (Django's autodiscovery looks only for ``admin``).
from campuscard.backoffice import (  # noqa: E402,F401
    access_admin,
    assistant_admin,
    cards_admin,
    cash_admin,
    channels_admin,
    devices_admin,
    dorm_admin,
    enrollment_admin,
    health_admin,
    ledger_admin,
    library_admin,
    merchant_admin,
    payments_admin,
    registrar_admin,
    rental_admin,
    study_admin,
    transit_admin,
)
