"""The REST API and the server-rendered dashboard."""
