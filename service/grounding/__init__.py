"""The pure grounded-trace core: shared types, prompt builder, output grammar, parser,
geometry. No FastAPI, Redis, PyAV, numpy or torch here; import the submodules directly
(`service.grounding.prompt`, `.parser`, `.grammar`, `.geometry`, `.types`).
"""
