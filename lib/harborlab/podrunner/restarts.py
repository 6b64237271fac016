"""When a pod's program exits: restart or not, and how long to back off first (kubelet rules).

The kubelet restarts a container per the pod's ``restartPolicy``; the first restart is
immediate, every later one waits ``base * 2**(n-2)`` seconds (10s, 20s, 40s ... capped at 300s),
and the container shows ``CrashLoopBackOff`` while it waits. A container that ran for longer than
``RESET_AFTER`` seconds before exiting starts the sequence again.
"""

from __future__ import annotations

BASE_DELAY = 10.0
MAX_DELAY = 300.0
RESET_AFTER = 600.0

# restartPolicy -> does an exit with this code get a restart?
RESTART_ON: dict[str, tuple[bool, bool]] = {   # (on success, on failure)
    "Always": (True, True),
    "OnFailure": (False, True),
    "Never": (False, False),
}


def should_restart(policy: str | None, exit_code: int) -> bool:
    on_success, on_failure = RESTART_ON.get(policy or "Always", RESTART_ON["Always"])
    return on_success if exit_code == 0 else on_failure


def final_phase(exit_code: int) -> str:
    """The pod phase once its only container has exited for good."""
    return "Succeeded" if exit_code == 0 else "Failed"


def backoff_delay(exits: int, base: float = BASE_DELAY, cap: float = MAX_DELAY) -> float:
    """Seconds to wait before restarting after the ``exits``-th exit in a row (1 = first exit)."""
    if exits <= 1:
        return 0.0
    return min(cap, base * 2 ** (exits - 2))


def exits_in_a_row(previous: int, ran_for: float, reset_after: float = RESET_AFTER) -> int:
    """The crash counter after one more exit: a long healthy run starts it again."""
    return 1 if ran_for >= reset_after else previous + 1


def termination_reason(exit_code: int) -> str:
    """``lastState.terminated.reason`` as the runtime reports it (the lab sets no memory limits,
    so there is no OOMKilled)."""
    return "Completed" if exit_code == 0 else "Error"
