"""Per-optimizer entries of the test database, one module per registry name (see tests/_db.py)."""
