"""The `claude-proxy` command and its verbs (code, env, doctor)."""
