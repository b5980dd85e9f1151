#!/usr/bin/env python3
"""Write a one-layer image archive (docker-archive format) from files on the host.

For the test node's small images (the pause image, a busybox image) that `ctr -n k8s.io images
import` loads without a registry or an image builder.

    image.py OUT.tar NAME:TAG --entrypoint /pause [--cmd ARG]... [--user UID]
             [--file SRC:DEST]... [--link DEST:TARGET]... [--dir DEST]...

--file copies SRC (mode kept, owned by root) to DEST inside the image, --link makes DEST a
symbolic link to TARGET, --dir an empty directory (mode 1777 for /tmp, 0755 otherwise).
"""

import argparse
import hashlib
import io
import json
import os
import tarfile


def layer_bytes(files, links, dirs):
    """The layer as an uncompressed tar, with parent directories and fixed times (reproducible)."""
    buf = io.BytesIO()
    seen = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add_dir(path):
            path = path.strip("/")
            if not path or path in seen:
                return
            add_dir(os.path.dirname(path))
            info = tarfile.TarInfo(path)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if path == "tmp" else 0o755
            tar.addfile(info)
            seen.add(path)

        for d in dirs:
            add_dir(d)
        for src, dest in files:
            dest = dest.strip("/")
            add_dir(os.path.dirname(dest))
            info = tarfile.TarInfo(dest)
            info.size = os.path.getsize(src)
            info.mode = os.stat(src).st_mode & 0o7777
            with open(src, "rb") as f:
                tar.addfile(info, f)
        for dest, target in links:
            dest = dest.strip("/")
            add_dir(os.path.dirname(dest))
            info = tarfile.TarInfo(dest)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def pair(value):
    left, sep, right = value.partition(":")
    if not sep or not left or not right:
        raise argparse.ArgumentTypeError(f"expected A:B, got {value!r}")
    return left, right


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("name")
    parser.add_argument("--entrypoint", action="append", default=[])
    parser.add_argument("--cmd", action="append", default=[])
    parser.add_argument("--user", default="")
    parser.add_argument("--file", type=pair, action="append", default=[])
    parser.add_argument("--link", type=pair, action="append", default=[])
    parser.add_argument("--dir", action="append", default=[])
    args = parser.parse_args()

    layer = layer_bytes(args.file, args.link, args.dir)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": args.entrypoint or None,
            "Cmd": args.cmd or None,
            "User": args.user,
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"],
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "scripts/node/image.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.split(":")[1] + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [args.name], "Layers": [layer_name]}]

    tmp = args.out + ".tmp"
    with tarfile.open(tmp, mode="w") as tar:
        for name, data in (
            (config_name, config_bytes),
            (layer_name, layer),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
