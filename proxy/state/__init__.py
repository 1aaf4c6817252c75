"""The management service and the live state it owns: event bus, history, debug log, stats, presets."""
