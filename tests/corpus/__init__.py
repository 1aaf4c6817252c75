"""Real recorded provider responses and their replay server."""
