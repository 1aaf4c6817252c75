"""The HTTP edge: the aiohttp app, middlewares, the Messages and management routes, the runner."""
