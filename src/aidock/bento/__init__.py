"""Serving side of the AIs (BentoML services come later); for now the wire schemas.

``aidock.bento.schemas`` holds the versioned request/response models and their
registry; it depends on pydantic only, so clients can import it without BentoML.
"""
