"""See the private modules for details."""
