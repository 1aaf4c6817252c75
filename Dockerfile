# claude-proxy, headless, as a non-root user. Build: docker build -t claude-proxy .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1

# uv from PyPI (works where only the package registries are reachable).
RUN pip install --no-cache-dir uv

WORKDIR /app
# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY app ./app
COPY proxy ./proxy
COPY screens ./screens
COPY styles ./styles
COPY presets.toml ./
RUN uv sync --frozen --no-dev

RUN useradd --create-home --uid 1000 proxy \
    && mkdir -p /app/conversations /app/logs \
    && chown -R proxy /app/conversations /app/logs
USER proxy

# Listening beyond loopback needs PROXY_API_KEY (the proxy refuses to start without it).
ENV HOST=0.0.0.0 PORT=8082
EXPOSE 8082
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8082/health', timeout=3)" || exit 1
CMD ["/app/.venv/bin/claude-proxy", "--headless", "--host", "0.0.0.0"]
