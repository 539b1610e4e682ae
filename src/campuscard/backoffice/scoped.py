"""The one admin base class: every back-office list and form goes through ``restrict`` (rule 6)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from unfold.admin import ModelAdmin

from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.permissions import can, restrict


class OwnInstitutionForm:
    """Mixed into a model form whose institution is hidden: it is the operator's (TEN-1), from the start.

    Django leaves fields that are not on the form out of model validation, which would skip the
    per-institution unique constraints (a duplicate student number would fail at INSERT with a 500);
    with the institution set on the instance they are checked like any other and shown as form errors.
    """

    own_institution_id: int | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.institution_id:
            self.instance.institution_id = self.own_institution_id

    def _get_validation_exclusions(self):
        return super()._get_validation_exclusions() - {"institution"}


class ScopedAdmin(ModelAdmin):
    """Institution-scoped: users see and change only their institution's rows; choices likewise."""

    def get_queryset(self, request):
        return restrict(super().get_queryset(request), request.user, "view")

    def get_list_filter(self, request):
        """A related-object filter would list every institution's campuses, merchants …: for
        institution users drop the institution filter and offer only values of their own rows (TEN-1)."""
        filters = super().get_list_filter(request)
        if request.user.is_superuser:
            return filters
        scoped = []
        for item in filters:
            if isinstance(item, str):
                if item == "institution" or item.endswith("__institution"):
                    continue
                if get_fields_from_path(self.model, item)[-1].is_relation:
                    item = (item, admin.RelatedOnlyFieldListFilter)
            scoped.append(item)
        return scoped

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and (obj is None or can(request.user, "view", obj))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or can(request.user, "change", obj))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or can(request.user, "delete", obj))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if hasattr(related, "institution_path") and not request.user.is_superuser:
            kwargs["queryset"] = restrict(related._default_manager.all(), request.user, "view")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        """Choices of the operator's institution only (a zone's gates and managers): never another
        institution's devices or users (TEN-1). By institution, not by permission, so that a zone manager
        who may not list devices still keeps the gates a zone has."""
        related = db_field.related_model
        if hasattr(related, "institution_path") and not request.user.is_superuser:
            institution_id = request.user.institution_id
            kwargs["queryset"] = (related._default_manager.filter(**{related.institution_path: institution_id})
                                  if institution_id is not None else related._default_manager.none())
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _hides_institution(self, request) -> bool:
        # Operators never pick an institution: it is theirs (TEN-1).
        return not request.user.is_superuser and "institution" in {f.name for f in self.model._meta.fields}

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if not self._hides_institution(request):
            return form
        return type(form.__name__, (OwnInstitutionForm, form), {"own_institution_id": request.user.institution_id})

    def get_exclude(self, request, obj=None):
        excluded = list(super().get_exclude(request, obj) or [])
        return [*excluded, "institution"] if self._hides_institution(request) else excluded

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self._hides_institution(request):
            return fieldsets
        return [(title, {**opts, "fields": [f for f in opts["fields"] if f != "institution"]})
                for title, opts in fieldsets]

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and hasattr(obj, "institution_id") and not obj.institution_id:
            obj.institution_id = request.user.institution_id
        super().save_model(request, obj, form, change)
        audit_record(actor=Actor.by_user(request.user), action="changed" if change else "created", obj=obj,
                     institution_id=getattr(obj, "institution_id", None) or request.user.institution_id,
                     after={"fields": sorted(form.changed_data)})


class ReadOnlyAdmin(ScopedAdmin):
    """For records nobody edits by hand: audit trail, journals."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


__all__ = ["OwnInstitutionForm", "ScopedAdmin", "ReadOnlyAdmin", "admin"]
