"""The Harbor database on an external MySQL/MariaDB cluster: account, migration, verification.

Step functions return data a runbook shows (per-table rows and checksum matches, the SQL run or
planned); every one supports ``dry_run``; no password reaches a message, log or exception.
"""

from .accounts import AccountResult, ensure_account, revoke_statements
from .connection import Endpoint, Login, ServerInfo, connect, first_healthy, galera_health
from .load import DEFAULT_CONNECTIONS
from .migrate import (DumpFile, MigrationResult, SourceServer, VerificationError, migrate,
                      plan)
from .names import (InvalidNameError, check_database, check_host, check_user, staging_name)
from .swap import SwapPlan, TargetNotEmptyError, plan_swap
from .verify import HARBOR_SEEDS, TableCheck, TableStats, compare

__all__ = [
    "AccountResult", "ensure_account", "revoke_statements", "Endpoint", "Login", "ServerInfo",
    "connect", "first_healthy", "galera_health", "DumpFile", "MigrationResult", "SourceServer",
    "VerificationError", "migrate", "plan", "InvalidNameError", "check_database", "check_host",
    "check_user", "staging_name", "SwapPlan", "TargetNotEmptyError", "plan_swap",
    "HARBOR_SEEDS", "TableCheck", "TableStats", "compare", "DEFAULT_CONNECTIONS",
]
