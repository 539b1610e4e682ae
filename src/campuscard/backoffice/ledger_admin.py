"""Back office: accounts with their journal, the journal itself, reconciliation runs (read-only)."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from campuscard.backoffice.scoped import ReadOnlyAdmin
from campuscard.core.money import format_fen
from campuscard.ledger.models import Account, CheckRun, Transfer
from campuscard.ledger.selectors import account_balances, journal
from campuscard.payments.selectors import kind_label


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "kind", "status", "balance", "institution"]
    list_filter = ["kind", "status", "institution"]
    search_fields = ["code", "name", "owner"]
    readonly_fields = ["institution", "kind", "code", "name", "owner", "floor", "stripes", "status", "created_at"]
    change_form_template = "backoffice/account_change_form.html"

    @admin.display(description=_("balance"))
    def balance(self, obj):
        return format_fen(account_balances(account_id=obj.pk).posted)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        if object_id and str(object_id).isdigit():
            extra_context["balances"] = account_balances(account_id=int(object_id))
            rows = journal(account_id=int(object_id), limit=200)
            for row in rows:  # readable kinds, not codes (#17 item 5)
                row.label = kind_label(row.kind)  # type: ignore[attr-defined]
            extra_context["journal"] = rows
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "kind_display", "phase", "amount_display", "debit_link", "credit_link", "reference"]
    list_filter = ["phase", "kind", "institution"]
    search_fields = ["key", "reference"]
    date_hierarchy = "created_at"
    list_select_related = ["debit", "credit"]
    show_full_result_count = False

    @admin.display(description=_("kind"), ordering="kind")
    def kind_display(self, obj):
        return kind_label(obj.kind)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj):
        return format_fen(obj.amount)

    @admin.display(description=_("debit account"))
    def debit_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:ledger_account_change", args=[obj.debit_id]),
                           obj.debit.name)

    @admin.display(description=_("credit account"))
    def credit_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:ledger_account_change", args=[obj.credit_id]),
                           obj.credit.name)


@admin.register(CheckRun)
class CheckRunAdmin(admin.ModelAdmin):
    """Reconciliation results are platform-wide; auditors and admins read them."""

    list_display = ["started_at", "kind", "ok", "accounts", "transfers", "problem_count"]
    list_filter = ["kind", "ok"]
    readonly_fields = ["kind", "started_at", "finished_at", "ok", "accounts", "transfers", "problems"]

    @admin.display(description=_("problems"))
    def problem_count(self, obj):
        return len(obj.problems)

    def has_module_permission(self, request):
        return request.user.is_superuser  # platform-wide: reconciliation spans institutions

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
