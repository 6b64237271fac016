"""The external programs the test suite itself executes (beyond the lab's and the product's).

path -> (Debian package, which tests run it). Checked with the other two tables by
tests/test_programs.py against ``dpkg -S`` and tests/debian-packages.txt.
"""

PROGRAMS: dict[str, tuple[str, str]] = {
    "/usr/sbin/sshd": ("openssh-server", "tests/harborbook/nodeshell: the ssh transport against a real sshd; "
                                         "tests/harborbook/migrate/test_ssh_source.py: an ssh:// source registry"),
    "/usr/bin/ssh-keygen": ("openssh-client", "tests/harborbook/nodeshell, tests/harborbook/migrate: host and user keys"),
    "/usr/bin/chromium": ("chromium", "tests/procedure/test_browser.py: JupyterLab and the report"),
    "/usr/bin/skopeo": ("skopeo", "tests/harborbook/registry, tests/harborlab/podrunner: a real registry client"),
    "/usr/bin/kubectl": ("kubectl", "tests/harborlab/kube/test_kubectl.py: a real client-go tool against the emulator"),
}
