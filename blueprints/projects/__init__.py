"""A learner's own projects."""
