"""The durable record: one SQLite file of requests, conversation turns and usage."""
