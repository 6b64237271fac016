"""The Docker Registry V2 API as the verification runbook uses it.

``challenge`` parses ``WWW-Authenticate``; ``image`` builds a small unique image and knows its
digests; ``transport`` is one HTTP exchange and the error mapping; ``client`` logs in, pushes,
pulls and HEADs manifests through any base URL (the public hostname or a pod proxy URL).
"""

from .challenge import Challenge, ChallengeSyntaxError, find_challenge, parse_challenges, repository_scope
from .client import ManifestHead, Pulled, RegistryClient, compare_pull
from .image import (
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Blob,
    Image,
    build_image,
    canonical_json,
    is_digest,
    sha256_digest,
)
from .transport import Response, http_error, short_body

__all__ = [
    "Blob",
    "Challenge",
    "ChallengeSyntaxError",
    "DOCKER_MANIFEST",
    "Image",
    "ManifestHead",
    "OCI_MANIFEST",
    "Pulled",
    "RegistryClient",
    "Response",
    "build_image",
    "canonical_json",
    "compare_pull",
    "find_challenge",
    "http_error",
    "is_digest",
    "parse_challenges",
    "repository_scope",
    "sha256_digest",
    "short_body",
]
