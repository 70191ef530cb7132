"""Framework-free building blocks: the subscriber interface and lookup."""
