"""Health endpoints: the full report, and liveness for load balancer routing."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.health import database_check, health_report
from monitoring.serializers import HealthOutput, LivenessOutput


class HealthApi(APIView):
    """Every check: database, broker, expired backlog, release job heartbeat."""

    @extend_schema(
        responses={
            200: OpenApiResponse(HealthOutput, description="Every check passed."),
            503: OpenApiResponse(HealthOutput, description="A check failed: see `reasons`."),
        }
    )
    def get(self, request):
        report = health_report()
        code = status.HTTP_200_OK if report["healthy"] else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response(report, status=code)


class LivenessApi(APIView):
    """Whether this web process can serve shoppers: it answers and reaches the database.

    Route traffic on this one. A dead scheduler makes /api/v1/health/ answer 503, but
    shoppers are served correctly without it; taking web nodes out of rotation for it
    would turn a monitoring problem into an outage.
    """

    @extend_schema(
        responses={
            200: OpenApiResponse(LivenessOutput, description="The database answers."),
            503: OpenApiResponse(LivenessOutput, description="The database does not answer."),
        }
    )
    def get(self, request):
        database = database_check()
        code = status.HTTP_200_OK if database["ok"] else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response({"live": database["ok"], "database": database}, status=code)
