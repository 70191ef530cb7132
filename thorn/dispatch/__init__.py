"""Dispatchers: how an event reaches its subscribers (one module per backend)."""
