"""Transports to the providers, one shape for all: OpenAI-compatible, Anthropic and LiteLLM."""
