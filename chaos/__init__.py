"""The fault matrix: every fault a hospital network throws, injected for real against a
broker, a hub and a station running as separate processes (docs/reliability.md)."""
