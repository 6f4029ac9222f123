"""Metrics, request ids and logging of the gateway."""
