"""Issue 11: a web page must never be able to drive the proxy; files, secrets, connections."""
