from django import forms
from django.utils.translation import gettext_lazy as _

from campuscard.core.models import Institution
from campuscard.identity.models import ChannelBinding


class LoginForm(forms.Form):
    institution = forms.ModelChoiceField(queryset=Institution.objects.all(), to_field_name="code",
                                         label=_("Institution"), empty_label=None)
    number = forms.CharField(label=_("Student / staff number"), max_length=32,
                             widget=forms.TextInput(attrs={"autocomplete": "username", "inputmode": "numeric"}))
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(label=_("Current password"), widget=forms.PasswordInput(
        attrs={"autocomplete": "current-password"}))
    new_password = forms.CharField(label=_("New password"), widget=forms.PasswordInput(
        attrs={"autocomplete": "new-password"}), help_text=_("At least 8 characters, not only digits."))
    new_password_again = forms.CharField(label=_("New password again"), widget=forms.PasswordInput(
        attrs={"autocomplete": "new-password"}))


class PaymentPasswordForm(forms.Form):
    """The first payment password is confirmed with the login password, a change with the current payment
    password: only the one that applies is asked (#17). The new one is typed twice."""

    login_password = forms.CharField(label=_("Login password"), widget=forms.PasswordInput(
        attrs={"autocomplete": "current-password"}))
    current_payment_password = forms.CharField(label=_("Current payment password"), widget=forms.PasswordInput(
        attrs={"inputmode": "numeric", "maxlength": 6, "autocomplete": "off"}))
    new_payment_password = forms.CharField(label=_("New payment password (6 digits)"), widget=forms.PasswordInput(
        attrs={"inputmode": "numeric", "maxlength": 6, "autocomplete": "off"}))
    new_payment_password_again = forms.CharField(label=_("New payment password again"), widget=forms.PasswordInput(
        attrs={"inputmode": "numeric", "maxlength": 6, "autocomplete": "off"}))

    def __init__(self, *args, has_password: bool, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["login_password" if has_password else "current_payment_password"]


class QueryPasswordForm(forms.Form):
    login_password = forms.CharField(label=_("Login password"), widget=forms.PasswordInput)
    new_query_password = forms.CharField(label=_("New query password"), widget=forms.PasswordInput(
        attrs={"autocomplete": "off"}), help_text=_("6 to 20 characters. Default: last six of your ID number."))


class ChannelBindForm(forms.Form):
    """ID-6: bind an outside channel while signed in; the token is shown once."""

    channel = forms.CharField(label=_("Channel name"), max_length=64,
                              help_text=_("As you will recognise it later, e.g. 校园卡小程序 on my phone."))
    scopes = forms.MultipleChoiceField(label=_("It may"), choices=ChannelBinding.Scope.choices,
                                       widget=forms.CheckboxSelectMultiple)
