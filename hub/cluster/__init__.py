"""Several hubs on one PostgreSQL: which of them leads (docs/cluster.md)."""
