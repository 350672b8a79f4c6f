"""Media storage and processing shared by both contexts."""
