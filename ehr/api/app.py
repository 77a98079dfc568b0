"""The FastAPI application: built once per process from ``Settings``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.types import Receive, Scope, Send

from ehr import __version__
from ehr.access.care import CareRelationships
from ehr.access.compartments import load_patient_compartment
from ehr.access.rate_limit import RateLimiter
from ehr.api.errors import install_error_handlers
from ehr.api.fhir_routes import fhir_router, is_fhir_request, serve_fhir
from ehr.audit.writes import AuditWrites
from ehr.auth.routes import auth_router
from ehr.auth.service import AuthService
from ehr.config import Settings, get_settings
from ehr.context import Services
from ehr.db.engine import make_engine
from ehr.db.migrate import upgrade
from ehr.mpi.linking import PersonLinking
from ehr.mpi.national_id_hash import load_or_create_secret
from ehr.profiles.participant import profile_validation
from ehr.search.registry import load_registry


def build_services(settings: Settings) -> Services:
    """Engine (migrated to the latest schema), search registry and write participants."""
    url = settings.resolved_database_url()
    if url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    engine = make_engine(
        url, busy_timeout_ms=settings.sqlite_busy_timeout_ms, echo=settings.log_sql
    )
    return Services(
        settings=settings,
        engine=engine,
        registry=load_registry(settings.profiles_dir),
        compartment=load_patient_compartment(settings.profiles_dir),
        limiter=RateLimiter(settings.rate_limit_per_minute),
        national_id_secret=load_or_create_secret(settings.key_dir() / "national-id-hmac.key"),
        auth=AuthService.from_settings(settings),
        participants=(
            PersonLinking(),
            CareRelationships(),
            AuditWrites(),
            profile_validation(settings.profiles_dir, settings.profile_policy),
        ),
    )


class ExchangeApp(FastAPI):
    """The service: FastAPI for ``/docs``, the auth routes and ``/``; ``/fhir`` requests go
    straight to the FHIR router (``ehr.api.fhir_routes.serve_fhir``), past FastAPI's
    middleware stack and routing, which answers them no differently (``serve_fhir`` maps
    every error as FastAPI's exception handlers do) and cost a few percent of a read."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_fhir_request(scope):
            scope["app"] = self
            await serve_fhir(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    services = build_services(settings)
    app = ExchangeApp(
        title="ehr: Vietnam national EHR exchange",
        version=__version__,
        description="HL7 FHIR R4 exchange: facilities push records, persons are linked by "
        "national ID, the Ministry reads rollout indicators. FHIR base: /fhir",
        docs_url="/docs",
    )
    app.state.services = services
    install_error_handlers(app)
    # The auth routes go first: /fhir/.well-known/... would otherwise match /fhir/{type}/{id}.
    app.include_router(auth_router())
    app.include_router(fhir_router())

    @app.get("/", include_in_schema=False)
    def _home() -> RedirectResponse:
        return RedirectResponse("/fhir/metadata")

    return app
