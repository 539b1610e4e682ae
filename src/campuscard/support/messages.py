"""A notification's words are stored as the message's source text (the msgid) and its parameters, and
translated when shown, so each reader sees it in their own language (#17 item 8, SUP-4).

Parameters are stored as JSON: a plain value as it is, a translatable value (a lazy translation, such as
"a lab permit") as ``{"msgid": source}``, a list of them as ``{"msgids": [source, …]}`` (shown joined)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext


def source_text(text) -> str:
    """The source text (msgid) of a lazy translation; a plain string as it is."""
    if isinstance(text, Promise):
        with translation.override(None):
            return str(text)
    return str(text)


def _stored(value):
    if isinstance(value, Promise):
        return {"msgid": source_text(value)}
    if isinstance(value, (list, tuple)):
        return {"msgids": [source_text(item) for item in value]}
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def params_stored(params: Mapping | None) -> dict:
    return {str(key): _stored(value) for key, value in (params or {}).items()}


def _shown(value):
    if isinstance(value, dict):
        if "msgid" in value:
            return gettext(value["msgid"])
        if "msgids" in value:
            return ", ".join(gettext(item) for item in value["msgids"])
    return value


def params_shown(params: Mapping | None) -> dict:
    """The parameters in the active language."""
    return {key: _shown(value) for key, value in (params or {}).items()}


def render(msgid: str, params: Mapping | None, fallback: str) -> str:
    """``msgid`` translated into the active language with its parameters; ``fallback`` (the text as written)
    when there is no msgid (rows written before #17) or it cannot be filled."""
    if not msgid:
        return fallback
    try:
        return gettext(msgid) % params_shown(params)
    except (KeyError, ValueError, TypeError):
        return fallback
