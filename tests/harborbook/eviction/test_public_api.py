"""The names other code relies on (issue 8) stay exported."""

import harborbook.eviction as eviction


def test_public_names_are_pinned():
    for name in ("parse_eviction_flag", "thresholds_from_log", "threshold_bytes", "is_met", "evaluate",
                 "format_startup_line", "plan_threshold", "edit_dropin", "edit_config_yaml"):
        assert name in eviction.__all__ and callable(getattr(eviction, name))
    assert sorted(eviction.__all__) == sorted(set(eviction.__all__))
    assert all(hasattr(eviction, name) for name in eviction.__all__)
