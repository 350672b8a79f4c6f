"""Admin pages: users and roles, events and workers."""
