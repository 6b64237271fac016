#!/usr/bin/python3
"""Lab ``journalctl`` inside a node root: reads the kubelet simulator's journal file.

Supported: ``-u UNIT``, ``--since``/``--until`` (``YYYY-MM-DD HH:MM[:SS]``, ``HH:MM[:SS]``, ``today``,
``yesterday``, ``now``, ``@EPOCH``, ``-5min``, ``5 min ago``), ``-n N``/``--lines=N``,
``-o cat|short|short-iso``, ``--no-pager``, ``-b``; and for the journal's disk use:
``--disk-usage``, ``--rotate``, ``--vacuum-size=SIZE`` (deletes archived files under
/var/log/journal, oldest first)."""

import argparse
import os
import re
import sys
import time

import nodeclient

UNITS = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60, "minutes": 60,
         "h": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400, "days": 86400}
SIZE = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def parse_time(text: str, now: float) -> float:
    text = text.strip()
    midnight = time.mktime(time.localtime(now)[:3] + (0, 0, 0, 0, 0, -1))
    if text == "now":
        return now
    if text == "today":
        return midnight
    if text == "yesterday":
        return midnight - 86400
    if text.startswith("@"):
        return float(text[1:])
    match = re.fullmatch(r"-?\s*(\d+)\s*([a-z]+)(\s+ago)?", text)
    if match and match.group(2) in UNITS and (text.startswith("-") or match.group(3)):
        return now - int(match.group(1)) * UNITS[match.group(2)]
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return time.mktime(time.strptime(text, fmt))
        except ValueError:
            pass
    for fmt in ("%H:%M:%S", "%H:%M"):
        try:
            clock = time.strptime(text, fmt)
            return midnight + clock.tm_hour * 3600 + clock.tm_min * 60 + clock.tm_sec
        except ValueError:
            pass
    raise ValueError(f'Failed to parse timestamp: {text}')


def archived(journal_dir: str) -> list[str]:
    found = []
    for base, _dirs, files in os.walk(journal_dir):
        found += [os.path.join(base, f) for f in files if f.endswith(".journal~") or "@" in f]
    return sorted(found, key=lambda p: os.stat(p).st_mtime)


def vacuum(size_text: str) -> int:
    match = re.fullmatch(r"(\d+)([KMGT]?)", size_text.strip().upper())
    if not match:
        print(f"Failed to parse size value: {size_text}", file=sys.stderr)
        return 1
    limit = int(match.group(1)) * SIZE[match.group(2)]
    files = archived("/var/log/journal")
    total = sum(os.stat(p).st_blocks * 512 for p in files)
    freed = 0
    for path in files:
        if total - freed <= limit:
            break
        size = os.stat(path).st_blocks * 512
        os.unlink(path)
        freed += size
        print(f"Deleted archived journal {path} ({nodeclient.human_bytes(size)}).")
    print(f"Vacuuming done, freed {nodeclient.human_bytes(freed)} of archived journals from /var/log/journal.")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="journalctl", add_help=False)
    parser.add_argument("-u", "--unit", action="append", default=[])
    parser.add_argument("-S", "--since")
    parser.add_argument("-U", "--until")
    parser.add_argument("-n", "--lines", type=int)
    parser.add_argument("-o", "--output", default="short")
    parser.add_argument("--no-pager", action="store_true")
    parser.add_argument("-b", "--boot", nargs="?", const="0")
    parser.add_argument("--disk-usage", action="store_true")
    parser.add_argument("--rotate", action="store_true")
    parser.add_argument("--vacuum-size")
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"journalctl (harborlab node): unsupported arguments {' '.join(unknown)}", file=sys.stderr)
        return 1
    if args.vacuum_size:
        return vacuum(args.vacuum_size)
    if args.rotate:
        return 0
    if args.disk_usage:
        total = nodeclient.tree_size("/var/log/journal") + nodeclient.tree_size(os.path.dirname(nodeclient.JOURNAL))
        print(f"Archived and active journals take up {nodeclient.human_bytes(total)} in the file system.")
        return 0
    now = time.time()
    try:
        since = parse_time(args.since, now) if args.since else None
        until = parse_time(args.until, now) if args.until else None
    except ValueError as err:
        print(str(err), file=sys.stderr)
        return 1
    units = {u if "." in u else u + ".service" for u in args.unit}
    records = [r for r in nodeclient.read_records(nodeclient.JOURNAL)
               if (not units or r.get("unit") in units)
               and (since is None or r["t"] >= since) and (until is None or r["t"] <= until)]
    if args.lines is not None:
        records = records[-args.lines:] if args.lines > 0 else []
    try:
        with open("/etc/hostname", encoding="utf-8") as fh:
            hostname = fh.read().strip()
    except OSError:
        hostname = "localhost"
    if not records and args.output != "cat":
        print("-- No entries --")
    for record in records:
        print(nodeclient.format_record(record, args.output, hostname))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
