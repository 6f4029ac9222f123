"""The reason surface of the HTTP API."""
