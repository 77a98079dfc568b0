"""Search parameters as data: definitions, value extraction, query parsing and SQL."""
