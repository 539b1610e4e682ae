"""Certificate photos are personal data: served only to their holder and to operators who may see them."""

from django.http import FileResponse, Http404

from campuscard.cards.models import Photo
from campuscard.core.permissions import can


def photo_file(request, path: str):
    photo = Photo.objects.select_related("person").filter(image=path).first()
    if photo is None or not request.user.is_authenticated:
        raise Http404
    own = photo.person.user_id == request.user.pk
    if not own and not can(request.user, "view", photo):
        raise Http404
    response = FileResponse(photo.image.open("rb"))
    response["Cache-Control"] = "private, max-age=3600"
    return response
