"""Test support: the fake and replay upstreams, the stream validator, request shapes."""
