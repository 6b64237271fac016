"""03-render-config as a library: generated secrets, manifests, lints, schema checks, the plan.

Pure: no cluster I/O. The caller reads the stored generated secrets and the live objects,
reveals the credentials, and applies what :func:`render` returns.
"""

from .findings import Finding, Level, RenderError, object_key, object_name
from .manifests import dump_all, dump_yaml, find, masked, render
from .secrets import (STORED_SECRET_NAME, GeneratedSecrets, GeneratedSecretsError, ensure_generated, generate,
                      stored_secret_manifest)
from .lints import run_all as run_lints
from .plan import PlanEntry, plan, write_manifests
from .validate import validate_manifests
from .values import Credentials, reveal_credentials

__all__ = [
    "Credentials", "Finding", "PlanEntry", "plan", "run_lints", "validate_manifests", "write_manifests", "GeneratedSecrets", "GeneratedSecretsError", "Level", "RenderError",
    "STORED_SECRET_NAME", "dump_all", "dump_yaml", "ensure_generated", "find", "generate", "masked",
    "object_key", "object_name", "render", "reveal_credentials", "stored_secret_manifest",
]
