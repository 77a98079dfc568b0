"""The audit trail: an AuditEvent for every access to a person's data (PRODUCT.md section 5)."""
