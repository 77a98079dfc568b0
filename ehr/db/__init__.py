"""Tables, engines and the unit of work."""
