"""The version of symbn."""

__version__ = "0.1.0"
