"""The videos surface of the HTTP API."""
