"""Reusable HTTP clients for the aidock AIs."""

from aidock.client.http import AiUnavailableError, ApiClient, ApiError, ClientError

__all__ = ["AiUnavailableError", "ApiClient", "ApiError", "ClientError"]
