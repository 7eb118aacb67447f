"""Real servers and processes for integration tests. Each fails loudly if it cannot start."""
