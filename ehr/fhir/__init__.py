"""FHIR models and resource-level helpers; the only place that imports ``fhir.resources``."""
