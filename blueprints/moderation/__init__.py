"""The moderators' queue."""
