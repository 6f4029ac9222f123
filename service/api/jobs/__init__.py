"""The jobs surface of the HTTP API."""
