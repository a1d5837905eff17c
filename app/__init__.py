"""Wiring and foundations of family-hotline: settings, database, security, privacy, audit, server."""
