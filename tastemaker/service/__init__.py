"""The HTTP service: the only module that knows about the web framework."""

from tastemaker.service.app import create_app

__all__ = ["create_app"]
