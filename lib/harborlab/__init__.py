"""harborlab: the local lab — real services plus an emulated Kubernetes control plane.

The lab is reached by the runbooks only through what a real environment offers
(a kubeconfig, DB host:port, a Redis address, a mounted CephFS path, a node shell).
``harborlab`` may import ``harborbook``; never the reverse.
"""
