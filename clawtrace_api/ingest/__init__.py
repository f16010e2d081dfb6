"""Ingest: collector requests checked against the key, validated with bronze's contract, and written durably
into the raw zone by a group-commit writer (many concurrent requests share one write and one fsync)."""
