"""The service's routes, one module per resource; each parses, calls the facade and serialises."""
