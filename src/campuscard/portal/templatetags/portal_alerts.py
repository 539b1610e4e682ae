"""The unread-notification badge in the portal header (SUP-4): one count per page for a signed-in holder."""

from django import template

from campuscard.identity.selectors import person_of_user
from campuscard.support.selectors import unread_count

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notifications(context) -> int:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    person = person_of_user(user)
    return unread_count(person=person) if person is not None else 0
