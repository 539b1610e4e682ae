from django import template

from campuscard.core import privacy

register = template.Library()
register.filter("mask_name", privacy.mask_name)
register.filter("mask_number", privacy.mask_number)
register.filter("mask_phone", privacy.mask_phone)  # #18 item 7
register.filter("mask_id_number", privacy.mask_id_number)
