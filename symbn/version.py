"""The version of symbn."""

__version__ = "0.2.0"
