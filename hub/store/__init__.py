"""The hub database: SQLAlchemy Core tables, the engine, migrations and read queries."""
