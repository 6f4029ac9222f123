"""The deploy fixtures (the files as their tools read them), shared with tests/unit/deploy."""

from tests.unit.deploy.conftest import compose_doc, compose_env, compose_text, env_example

__all__ = ["compose_doc", "compose_env", "compose_text", "env_example"]
