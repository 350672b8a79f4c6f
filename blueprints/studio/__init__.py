"""The instructor studio."""
