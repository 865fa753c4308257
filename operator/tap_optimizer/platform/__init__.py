"""The TapPlatform composite resource: its parameter schema and the checks on it."""
