"""The proxy: an aiohttp server speaking the Anthropic Messages API. Never imports Textual."""

import os

# Without this, importing LiteLLM fetches its price map from the internet and stalls offline.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
