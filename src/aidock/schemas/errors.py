"""The body of every 4xx/5xx answer of aidock's services."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer."""

    error: str
    field: str | None = None
