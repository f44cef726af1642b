"""Tastemaker: a self-hosted engine for personalized content recommendations."""

__version__ = "0.1.0"
