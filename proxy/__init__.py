"""Railguard's service: the ASGI app, upstream client, guard pipeline, streaming, events and CLI."""

__version__ = "0.1.0"
