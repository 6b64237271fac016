"""harborlab: the local lab — real services plus an emulated Kubernetes control plane.

The lab is reached by the runbooks only through what a real environment offers
(a kubeconfig, DB host:port, a Redis address, a mounted CephFS path, a node shell).
The lab is a witness (DESIGN.md): it follows the real systems' sources, never the product's
code, so it does not import ``harborbook``; and ``harborbook`` never imports ``harborlab``.
"""
