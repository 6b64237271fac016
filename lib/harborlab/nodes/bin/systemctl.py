#!/usr/bin/python3
"""Lab ``systemctl`` inside a node root: talks to the node's kubelet simulator.

Supported: ``daemon-reload``, ``start|stop|restart|status|is-active|cat|show`` for ``kubelet``;
other units are reported as not found, like a node without them."""

import sys

import nodeclient

VERBS = {"daemon-reload", "start", "stop", "restart", "status", "is-active", "cat", "show"}
OPTIONS_WITHOUT_VALUE = {"--no-pager", "-l", "--full", "--quiet", "-q", "--no-block", "--system"}


def main(argv: list[str]) -> int:
    words = [a for a in argv if a not in OPTIONS_WITHOUT_VALUE and not a.startswith("--lines")
             and not a.startswith("-n")]
    if not words:
        print("systemctl (harborlab node): a verb is required", file=sys.stderr)
        return 1
    verb, units = words[0], [u if "." in u else u + ".service" for u in words[1:]]
    if verb not in VERBS:
        print(f"Unknown command verb {verb}.", file=sys.stderr)
        return 1
    if verb != "daemon-reload" and not units:
        print(f"Too few arguments.", file=sys.stderr)
        return 1
    try:
        answer = nodeclient.request({"cmd": verb, "units": units})
    except (OSError, ValueError):
        print("System has not been booted with systemd as init system (PID 1). Can't operate.\n"
              "Failed to connect to bus: Host is down (the lab's kubelet simulator is not running)",
              file=sys.stderr)
        return 1
    sys.stdout.write(answer.get("stdout", ""))
    sys.stderr.write(answer.get("stderr", ""))
    return int(answer.get("rc", 1))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
