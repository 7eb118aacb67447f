"""The scantrail hub: consumes scans exactly once in effect and serves records."""

__version__ = "0.1.0"
