"""A stand-in for Harbor 1.2's ui (``vmware/harbor-ui:v1.2.0``), written for the lab.

It offers what the runbooks use: the page, form login with a ``beegosessionID`` cookie, the
current user, the Docker token service the registry trusts, and the notifications endpoint.
Users come from the external database; sessions live in Redis when ``_REDIS_URL`` is set.
Run it with ``python -m harborlab.ui --config-dir DIR --listen HOST:PORT``.
"""
