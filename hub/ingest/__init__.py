"""MQTT consumption: the consumer enqueues, the worker commits and then acks."""
