#!/usr/bin/python3
"""Lab ``crictl`` and ``docker`` inside a node root (chosen by the program's name): list and prune
the lab's image layers in the runtime's data root (found in the node's runtime config).

Supported: ``crictl images``, ``crictl rmi --prune``; ``docker images``, ``docker image prune [-a] [-f]``,
``docker system prune [-a] [-f]``, ``docker info``."""

import os
import sys

import nodeclient


def _read(path: str):
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return None


def main(program: str, argv: list[str]) -> int:
    runtime, root = nodeclient.runtime_root(_read)
    expected = "crictl" if runtime == "containerd" else "docker"
    if program != expected:
        print(f"{program}: command not found (this node runs {runtime})", file=sys.stderr)
        return 127
    layers = os.path.join(root, nodeclient.LAYER_DIRS[runtime])
    words = [a for a in argv if not a.startswith("-")]
    flags = {a for a in argv if a.startswith("-")}
    if words in (["images"], ["image", "ls"]):
        print("IMAGE ID            SIZE      UNUSED")
        for path in sorted(os.listdir(layers)) if os.path.isdir(layers) else []:
            unused = os.path.exists(os.path.join(layers, path, nodeclient.UNUSED_MARKER))
            size = nodeclient.tree_size(os.path.join(layers, path))
            print(f"{path[:12]:<19} {nodeclient.human_bytes(size):<9} {'yes' if unused else 'no'}")
        return 0
    if program == "docker" and words == ["info"]:
        print(f"Storage Driver: overlay\nDocker Root Dir: {root}")
        return 0
    pruning = (program == "crictl" and words == ["rmi"] and "--prune" in flags) or \
              (program == "docker" and words in (["image", "prune"], ["system", "prune"]))
    if not pruning:
        print(f"{program} (harborlab node): unsupported command {' '.join(argv)}", file=sys.stderr)
        return 1
    freed = nodeclient.prune(layers)
    if program == "crictl":
        for layer, _size in freed:
            print(f"Deleted: sha256:{layer}")
    else:
        if freed:
            print("Deleted Images:")
        for layer, _size in freed:
            print(f"deleted: sha256:{layer}")
        print(f"\nTotal reclaimed space: {nodeclient.human_bytes(sum(s for _l, s in freed))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(os.path.basename(sys.argv[0]), sys.argv[1:]))
