"""FHIR RESTful interactions and operations, one module each (https://hl7.org/fhir/R4/http.html).

Each handler takes a ``RequestContext`` and a ``FhirRequest`` and returns a
``FhirResponse``; none knows about HTTP frameworks, which is what lets the same handlers
serve plain HTTP requests and the entries of batch and transaction bundles.
"""
