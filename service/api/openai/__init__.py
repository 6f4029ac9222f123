"""The openai surface of the HTTP API."""
