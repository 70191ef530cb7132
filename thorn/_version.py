"""The version of thorn, in one place (setup.py reads it from here)."""

__version__ = "2.0.0.dev0"
