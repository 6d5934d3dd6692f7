"""The on-demand agent: starts hardened AI containers from the site registry when asked.

``POST /v1/instances {"ai", "version"}`` pulls ``<registry>/<namespace>/<ai>:<version>``
(skipped when the local image already has the registry's digest), runs it with enforced
hardening, waits for its readiness endpoint and only then answers with its endpoint.
Modules: ``config`` (settings and AI catalog), ``docker_ops`` (every Docker Engine call),
``instances`` (lifecycle, adoption, idle reaper), ``app`` (Flask API), ``openapi`` (its
OpenAPI document), ``client`` (``AgentClient``, token file), ``cli`` (``aidock agent
serve``). The wire models are in ``aidock.schemas.agent``.

This module imports nothing heavy: clients use ``aidock.agent.client`` without the
Docker SDK or Flask.
"""

OWNER_LABEL = "ai.aidock.owner"
AI_LABEL = "ai.aidock.ai"
VERSION_LABEL = "ai.aidock.version"
STARTED_AT_LABEL = "ai.aidock.started-at"
INSTANCE_LABEL = "ai.aidock.instance"
SCHEMA_LABEL = "ai.aidock.schema-version"
CONTAINER_PREFIX = "aidock-ai-"
RUN_AS = "10001:10001"
