"""The ASGI entry point for uvicorn (``ehr.api.main:app``), configured from ``EHR_*``."""

import gc

from ehr.api.app import create_app

app = create_app()

# Every served type's model class is imported on first use, about a second and a half: a
# worker's first request waited that long (measured under load: one batch of reads held
# 1.2 s, and every request queued behind it). The served process imports them now, before
# it takes requests, and they are frozen with the rest below.
app.state.services.registry.resource_types()

# What was built at startup (search registry, profiles, terminology, rules: some 140,000
# objects) lives as long as the worker: keep it out of the collector's full passes, each of
# which walked it all (about 45 ms, measured). Only here, in the served process: a process
# that builds many apps (the tests) would keep every frozen one forever.
gc.collect()
gc.freeze()
