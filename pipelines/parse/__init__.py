"""Format readers: bytes of a document in, rows out. Pure functions, no I/O beyond the bytes given."""
