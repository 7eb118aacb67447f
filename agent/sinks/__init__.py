"""Feedback sinks beyond the log line: one module per output device."""
