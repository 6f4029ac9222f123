"""The health surface of the HTTP API."""
