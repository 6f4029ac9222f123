"""Gateway state: the result cache and the job queue (Redis, or in-process)."""
