from django.conf import settings
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import render

from .models import Order


def index(request):
    context = {
        "build_id": settings.SHOP_BUILD_ID,
        "orders": Order.objects.count(),
        "processed": Order.objects.filter(processed__isnull=False).count(),
    }
    return render(request, "shop/index.html", context)


def health(request):
    """200 with the build id (slipway's health check matches it) once the database answers."""
    body = {"status": "ok", "build_id": settings.SHOP_BUILD_ID, "release": str(settings.BASE_DIR)}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        body["database"] = connection.vendor
    except Exception as exc:  # any database failure makes this host unhealthy
        body.update(status="error", error=f"database: {exc}")
        return JsonResponse(body, status=503, headers={"X-Build-Id": settings.SHOP_BUILD_ID})
    return JsonResponse(body, headers={"X-Build-Id": settings.SHOP_BUILD_ID})


def order(request, reference):
    try:
        o = Order.objects.get(reference=reference)
    except Order.DoesNotExist:
        raise Http404(f"no order {reference}")
    runs = [{"task_id": r.task_id, "build_id": r.build_id, "duplicates": r.duplicates} for r in o.runs.all()]
    return JsonResponse({"reference": o.reference, "processed": o.processed is not None, "runs": runs})
