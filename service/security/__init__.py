"""API keys, the video_url fetch guard, and the inference admission limits."""
