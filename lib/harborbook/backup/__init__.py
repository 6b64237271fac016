"""Backups of a Harbor deployment: capture, the encrypted stream, targets, restore (runbook 07).

``target`` stores objects (a directory, S3), ``crypto`` is the authenticated stream format,
``store`` puts and reads objects with verification, ``manifest`` is backup.json and retention,
``capture`` takes a consistent backup, ``restore`` brings one back.
"""
