"""The claude-proxy benchmark (issue 6): proxy vs direct on loopback, one command.

``uv run python -m bench`` runs every scenario (latency, stream, cpu, concurrency, startup,
memory, tui_paint, tui_keys) three times, prints a table with the issue's targets and writes
``bench/results/latest.json``. ``--quick`` is a < 60 s smoke run; see ``bench/README.md``.
"""
