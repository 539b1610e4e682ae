from django import template

from campuscard.core import privacy

register = template.Library()
register.filter("mask_name", privacy.mask_name)
register.filter("mask_number", privacy.mask_number)
