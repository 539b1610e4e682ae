"""``{% sso_enabled as on %}`` for the back office's login page (ID-4, #16 item 2): the admin's login view
has no context of ours."""

from django import template

from campuscard.identity.sso import sso_enabled as _sso_enabled

register = template.Library()


@register.simple_tag
def sso_enabled() -> bool:
    return _sso_enabled()
