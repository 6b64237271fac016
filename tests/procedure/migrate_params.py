"""The sandbox params with a `migrate` section for the lab's legacy Harbor, for 08's lab tests.

The lab's details (lab.json) carry absolute paths (the legacy tree, the ssh key), so the params
are written per test run rather than committed: from a local path, or over the lab's sshd.
"""

from __future__ import annotations

from pathlib import Path

from .conftest import SANDBOX, STATE


def migrate_params(folder: Path, name: str, legacy: dict, *, cutover: str = "plan", ssh: bool = False,
                   key: str | None = None, known_hosts: str | None = None) -> Path:
    """``folder/params-<name>.yaml``: the old registry read from its path, or with ``ssh`` over
    the lab's sshd (``key``/``known_hosts`` replace the lab's own, for the failure paths)."""
    text = SANDBOX.read_text().replace("../.lab/", f"{STATE}/")
    users = "".join(f"    - {{name: {u['name']}, password: 'file:{u['password_file']}'}}\n" for u in legacy["users"])
    if ssh:
        source = (f"    registry: {legacy['ssh']['url']}\n"
                  f"    ssh_key: 'file:{key or legacy['ssh']['key_file']}'\n"
                  f"    known_hosts: {known_hosts or legacy['ssh']['known_hosts']}\n")
    else:
        source = f"    registry: {legacy['registry_path']}\n"
    text += (
        "\nmigrate:\n"
        "  source:\n" + source +
        f"    url: {legacy['registry_url']}\n"
        "    database: {host: 127.0.0.1, port: 13316, user: harbor_src, "
        f"password: 'file:{STATE}/secrets/harbor-db-password', database: registry}}\n"
        "  parallel: 4\n"
        f"  cutover: {cutover}\n"
        "  users:\n" + users)
    path = folder / f"params-{name}.yaml"
    path.write_text(text)
    return path
