"""Serving side of the document AIs: Bento build, archive import, service and server.

Their wire models and the registry of schema versions are in ``aidock.schemas.bento``,
which depends on pydantic only, so clients import it without BentoML.
"""
