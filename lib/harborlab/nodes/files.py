"""The files a node of each profile carries: the kubelet unit, its kubeadm drop-in, the kubelet
config (modern), the container runtime's config, and the skeleton of a Debian-like root.

Written from the facts in reference/kubelet-eviction.md: the ``article`` node is a kubeadm 1.7
node (Environment= lines, an empty ``ExecStart=`` reset, no config file, Docker with its data
moved to ``/data/docker`` on lab-node-3); the ``modern`` node is a current kubeadm node
(``--config=/var/lib/kubelet/config.yaml``, ``EnvironmentFile=-`` lines, containerd).

Which systemd a node runs (it matters: ``5%`` in an Environment= line is a specifier): the
``article`` node runs a systemd of its era (before 236, unknown specifiers kept verbatim:
``legacy_specifiers=True``), the ``modern`` node a current one (the line is dropped with a warning).
"""

from __future__ import annotations

import hashlib
import json

UNIT = "kubelet.service"
LEGACY_SPECIFIERS = {"article": True, "modern": False}

KUBELET_UNIT = """\
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=http://kubernetes.io/docs/

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""

ARTICLE_DROPIN = """\
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--kubeconfig=/etc/kubernetes/kubelet.conf --require-kubeconfig=true"
Environment="KUBELET_SYSTEM_PODS_ARGS=--pod-manifest-path=/etc/kubernetes/manifests --allow-privileged=true"
Environment="KUBELET_NETWORK_ARGS=--network-plugin=cni --cni-conf-dir=/etc/cni/net.d --cni-bin-dir=/opt/cni/bin"
Environment="KUBELET_DNS_ARGS=--cluster-dns=10.96.0.10 --cluster-domain=cluster.local"
Environment="KUBELET_AUTHZ_ARGS=--authorization-mode=Webhook --client-ca-file=/etc/kubernetes/pki/ca.crt"
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_SYSTEM_PODS_ARGS $KUBELET_NETWORK_ARGS $KUBELET_DNS_ARGS $KUBELET_AUTHZ_ARGS $KUBELET_EXTRA_ARGS
"""

MODERN_DROPIN = """\
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""

MODERN_CONFIG = """\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
containerRuntimeEndpoint: ""
healthzBindAddress: 127.0.0.1
healthzPort: 10248
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
"""

MODERN_FLAGS_ENV = ('KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock '
                    '--pod-infra-container-image=registry.k8s.io/pause:3.9"\n')
CONTAINERD_CONFIG = 'version = 2\nroot = "/var/lib/containerd"\nstate = "/run/containerd"\n'

DIRECTORIES = ("etc/kubernetes/manifests", "etc/systemd/system/kubelet.service.d", "etc/default",
               "etc/harborlab", "lib/systemd/system", "var/lib/kubelet", "var/log/journal", "var/log/pods",
               "var/lib/harborlab/journal", "run", "tmp", "root", "home", "opt/cni/bin", "dev", "proc",
               "usr", "sbin")
SYMLINKS = {"bin": "usr/bin", "lib64": "usr/lib64", "lib/x86_64-linux-gnu": "/usr/lib/x86_64-linux-gnu"}


def runtime_root(profile: str, has_data_disk: bool) -> str:
    """Where the node's container runtime keeps images (the image filesystem)."""
    if profile == "article":
        return "/data/docker" if has_data_disk else "/var/lib/docker"
    return "/var/lib/containerd"


def node_files(profile: str, name: str, has_data_disk: bool) -> dict[str, str]:
    """path inside the node -> text, for a freshly provisioned node of ``profile``."""
    files = {
        "/etc/hostname": name + "\n",
        "/etc/hosts": f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n",
        "/etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
        "/etc/machine-id": hashlib.md5(name.encode()).hexdigest() + "\n",
        "/lib/systemd/system/" + UNIT: KUBELET_UNIT,
        "/etc/kubernetes/kubelet.conf": "# kubeconfig of the kubelet (lab: not used)\n",
    }
    if profile == "article":
        files["/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"] = ARTICLE_DROPIN
        if has_data_disk:
            files["/etc/docker/daemon.json"] = json.dumps({"graph": "/data/docker", "storage-driver": "overlay"},
                                                          indent=2) + "\n"
    else:
        files["/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"] = MODERN_DROPIN
        files["/var/lib/kubelet/config.yaml"] = MODERN_CONFIG
        files["/var/lib/kubelet/kubeadm-flags.env"] = MODERN_FLAGS_ENV
        files["/etc/default/kubelet"] = "KUBELET_EXTRA_ARGS=\n"
        files["/etc/containerd/config.toml"] = CONTAINERD_CONFIG
    return files
