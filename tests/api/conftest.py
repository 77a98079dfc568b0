"""The FHIR core tests check FHIR semantics on their own, without the master patient index.

With the index on, every Patient written gets a golden Patient of its own, which is right
for the product (``tests/mpi`` tests it) but would make every Patient count and page in
these tests about something else. So here the ``PersonLinking`` participant is left out;
every other participant (care relationships, audit) stays.
"""

from __future__ import annotations

import pytest

from ehr.mpi.linking import PersonLinking


@pytest.fixture(autouse=True)
def _without_person_linking(app) -> None:  # type: ignore[no-untyped-def]
    services = app.state.services
    services.participants = tuple(
        p for p in services.participants if not isinstance(p, PersonLinking)
    )
