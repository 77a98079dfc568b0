"""The ASGI entry point for uvicorn (``ehr.api.main:app``), configured from ``EHR_*``."""

from ehr.api.app import create_app

app = create_app()
