"""Health endpoint for load balancers and probes."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.health import health_report


class HealthApi(APIView):
    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request):
        report = health_report()
        code = status.HTTP_200_OK if report["healthy"] else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response(report, status=code)
