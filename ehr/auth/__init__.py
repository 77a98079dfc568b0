"""Authentication and authorization: tokens, SMART scopes, the caller as a ``Principal``."""
