"""Scans become records: pure rules (``rules``) and their database edge (``apply``)."""
