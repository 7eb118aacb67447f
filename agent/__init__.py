"""The scantrail edge agent: scanners in, durable outbox, MQTT out."""

__version__ = "0.1.0"
