"""report.md and report.json: what a run found, for a reviewer and for tools."""
