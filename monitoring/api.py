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
        },
        operation_id="health_get",
        tags=["Health"],
        summary="Health report",
        description=(
            "For uptime monitoring: `200` when every check passes, `503` when one fails, "
            "with `reasons` and every check's figures: the database, the broker, the backlog "
            "of expired holds waiting for release, and the release job's heartbeat. Each "
            "process reuses its report for a few seconds, so polling every second is fine.\n\n"
            "Do not route load balancer traffic on it: a stopped release job answers `503` "
            "here while shoppers are still served correctly. Use `health_live_get`."
        ),
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
        },
        operation_id="health_live_get",
        tags=["Health"],
        summary="Liveness",
        description=(
            "For load balancers: `200` while this web process answers and reaches the "
            "database, so it can serve shoppers; `503` when the database does not answer. "
            "Route traffic on this one."
        ),
    )
    def get(self, request):
        database = database_check()
        code = status.HTTP_200_OK if database["ok"] else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response({"live": database["ok"], "database": database}, status=code)
