"""The Docker API policy proxy: the agent's only way to dockerd (issue 12).

Whoever takes over the agent holds its Docker endpoint. Behind this proxy that endpoint can
do what the agent does and nothing else: run hardened containers of the site registry's
images by digest, and touch only containers carrying the agent's owner label. The proxy's
container alone mounts the Docker socket; the agent's ``DOCKER_HOST`` is the proxy's socket.
Deployment: ``README.md`` beside this module.

Modules: ``policy.yaml`` (the policy: data, one file), ``policy`` (its pydantic models and
loading), ``config`` (``AIDOCK_DOCKERPROXY_*`` settings), ``paths`` (canonical request
targets), ``strictjson`` (JSON without duplicate or case-variant keys), ``decide`` (the
decision: pure, unit-tested), ``server`` (gunicorn WSGI app, streaming to and from dockerd),
``cli`` (``aidock dockerproxy serve|check``).

Components considered, and why they do not fit:

- **Tecnativa/docker-socket-proxy** (haproxy): allows or denies by method and path prefix
  only, per environment variable (``CONTAINERS=1``, ``POST=1``). It never reads a body, so
  once container creation is allowed ``"Privileged": true`` or ``"Binds": ["/:/host"]`` pass
  (Tecnativa/docker-socket-proxy#182). Same for its forks (linuxserver/socket-proxy) and
  **wollomatic/socket-proxy** (regexes over method and path, no body checks).
- **Docker authorization plugins** (``--authorization-plugin``, e.g. opa-docker-authz,
  casbin-authz-plugin): they see the body, but need a plugin daemon and a change of
  ``daemon.json`` on every host, apply to every client of dockerd (the deploying Ansible
  and compose included, so the policy would have to allow the whole site), and their
  history shows the risk of a second parser: CVE-2024-41110, the plugin was shown an empty
  body while dockerd read the real one. A policy in Rego or casbin is also a second language
  to audit. Here the checked object is re-serialised and is what dockerd reads.
- **Rootless Docker / userns-remap**: limits what root in a container is, not what an API
  client may ask; the agent could still start privileged containers of any image.
- **Podman's socket / sysbox**: a different engine, not what the docker_engine role installs.
- **An HTTP proxy library** (mitmproxy, aiohttp-based proxies): none parses Docker's JSON
  with Go's case-insensitive field matching in mind. The HTTP layer here is gunicorn and
  ``http.client`` (both maintained, gunicorn already in the agent image's lock); only the
  policy interpretation (about 250 lines) is ours.
"""
