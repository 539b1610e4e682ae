"""Unknown /api/ addresses answer in the API's error shape, not with the HTML 404 page."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from campuscard.core.errors import DomainError


@csrf_exempt
def not_found(request, rest: str = ""):
    return JsonResponse(DomainError("not_found").as_dict(), status=404, json_dumps_params={"ensure_ascii": False})
