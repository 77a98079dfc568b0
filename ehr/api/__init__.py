"""The HTTP layer: FastAPI app, body limits, content negotiation, OperationOutcome errors."""
