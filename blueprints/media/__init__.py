"""Serving stored media with safe headers."""
