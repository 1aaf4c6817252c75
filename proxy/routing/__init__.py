"""Which upstream model serves a request: the model map, per-request rules, retries and fallbacks."""
