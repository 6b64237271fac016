"""harborbook: executable runbooks for highly available Harbor 1.2 on Kubernetes.

Every piece of logic a runbook step needs lives here, importable and unit-tested.
The runbooks import only this package; this package never imports ``harborlab``.
"""

__version__ = "0.1.0"
