"""Shared by every stage: settings, errors, key redaction, atomic files, logging, the model catalogue, token estimates."""
