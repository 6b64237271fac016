"""Programs installed inside each lab node's root (``/usr/local/bin``): ``systemctl``,
``journalctl``, ``crictl`` and ``docker`` stand-ins, and ``nodeclient``, the stdlib-only module they
share with the kubelet simulator (journal records, the control socket, the image store).

They run under the host's /usr/bin/python3 inside ``chroot <root>``, so they import nothing but
the standard library and their sibling ``nodeclient``."""
