"""Outside channels (ID-6): bind with the ID number and the query password, list and revoke bindings,
and the holder's notifications for a channel with that scope."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Router, Schema, Status

from campuscard.api.auth import holder_auth, holder_of
from campuscard.cards import channels
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.identity import selectors
from campuscard.identity.models import ChannelBinding
from campuscard.identity.throttle import client_address
from campuscard.support.models import Notification

router = Router(tags=["channels"])


class ChannelBindIn(Schema):
    institution: str = Field(description="The institution's code")
    channel: str = Field(description="The channel's name as the holder will see it, e.g. 校园卡小程序")
    id_number: str
    query_password: str = Field(description="Default: the last six characters of the ID number")
    scopes: list[str] = Field(description="Any of recharge, balance, transactions, loss_report, notifications")


class PortalBindIn(Schema):
    channel: str
    scopes: list[str]


class HolderOut(Schema):
    institution: str
    number: str
    name: str


class ChannelBindingOut(Schema):
    id: int
    channel: str
    scopes: list[str]
    via: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class BoundOut(ChannelBindingOut):
    token: str = Field(description="Shown once: send it as `Authorization: Bearer <token>`")
    holder: HolderOut


class NotificationOut(Schema):
    id: int
    kind: str
    title: str
    body: str
    link: str
    created_at: datetime
    read_at: datetime | None

    # In the reader's language (the request's), not the one it was written in (#17 item 8).
    @staticmethod
    def resolve_title(note) -> str:
        return note.shown_title

    @staticmethod
    def resolve_body(note) -> str:
        return note.shown_body


class ErrorOut(Schema):
    code: str
    message: str


def _bound(binding: ChannelBinding, token: str) -> dict:
    person = binding.person
    return {**ChannelBindingOut.model_validate(binding).model_dump(), "token": token,
            "holder": {"institution": person.institution.code, "number": person.number, "name": person.name}}


@router.post("/channels/bind", auth=None, response={201: BoundOut, 401: ErrorOut, 422: ErrorOut, 429: ErrorOut},
             summary="Bind an outside channel with the ID number and the query password (ID-6)")
def bind(request, payload: ChannelBindIn):
    institution = selectors.institution_by_code(payload.institution)
    binding, token = channels.channel_bind(
        actor=Actor.system(f"channel:{payload.channel.strip()[:60]}"), institution=institution,
        id_number=payload.id_number, query_password=payload.query_password, channel=payload.channel,
        scopes=payload.scopes, client_address=client_address(request))
    return Status(201, _bound(binding, token))


@router.get("/me/channels", response=list[ChannelBindingOut], summary="My channel bindings")
def my_bindings(request):
    return list(selectors.channel_bindings_of(holder_of(request)))


@router.post("/me/channels", response={201: BoundOut, 422: ErrorOut},
             summary="Bind a channel while signed in (password or single sign-on)")
def bind_signed_in(request, payload: PortalBindIn):
    binding, token = channels.channel_binding_create(
        actor=Actor.by_user(request.auth), person=holder_of(request), channel=payload.channel, scopes=payload.scopes,
        client_address=client_address(request))
    return Status(201, _bound(binding, token))


@router.delete("/me/channels/{binding_id}", response={200: ChannelBindingOut, 409: ErrorOut},
               summary="Revoke one of my channel bindings (at once)")
def revoke(request, binding_id: int):
    binding = selectors.channel_bindings_of(holder_of(request)).filter(pk=binding_id).first()
    if binding is None:
        raise DomainError("not_found")
    return channels.channel_binding_revoke(actor=Actor.by_user(request.auth), binding=binding)


@router.get("/me/notifications", response=list[NotificationOut], auth=holder_auth("notifications"),
            summary="My latest notifications (SUP-4)")
def notifications(request):
    return list(Notification.objects.filter(person=holder_of(request)).order_by("-created_at")[:50])
