"""Node-pressure eviction, decided exactly as the kubelet decides it.

Vocabulary (signals), quantities, thresholds, the start-up log line of each era, the
pressure timeline, the verdict and the remedies. All pure: callers fetch (configz,
stats/summary, files through a node shell) and pass text and numbers in. The
disk-pressure runbook and the lab's kubelet simulator both use this package, so the
same code decides for both.
"""

from .logline import ERAS, era_for, format_startup_line, thresholds_from_log
from .quantity import parse_percentage, parse_quantity
from .remedy import (FileEdit, ThresholdPlan, edit_config_yaml, edit_dropin, edit_env_file,
                     minimal_threshold, plan_threshold)
from .signals import SIGNALS, KubeletVersion, default_hard, resource_name, signals_for
from .thresholds import (EvictionSettingError, format_eviction_flag, is_met, is_met_with_reclaim,
                         parse_eviction_flag, parse_min_reclaim, parse_threshold_value, threshold_bytes)
from .verdict import (FsUsage, Observation, Verdict, VerdictRow, evaluate, observations_from_df,
                      observations_from_summary)

__all__ = [
    "ERAS", "SIGNALS", "EvictionSettingError", "FileEdit", "FsUsage", "KubeletVersion", "Observation",
    "ThresholdPlan", "Verdict", "VerdictRow", "default_hard", "edit_config_yaml", "edit_dropin",
    "edit_env_file", "era_for", "evaluate", "format_eviction_flag", "format_startup_line", "is_met",
    "is_met_with_reclaim", "minimal_threshold", "observations_from_df", "observations_from_summary",
    "parse_eviction_flag", "parse_min_reclaim", "parse_percentage", "parse_quantity",
    "parse_threshold_value", "plan_threshold", "resource_name", "signals_for", "thresholds_from_log",
    "threshold_bytes",
]
