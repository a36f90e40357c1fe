"""Ingest: flows normalised and aggregated into edges, kept in a state file; inventories loaded."""
