"""Python helpers the project's scripts share (standard library only).

Scripts in scripts/ import it with the lib directory on the path:

    sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
    from common import free_port

and the shell library (scripts/lib/common.sh) runs it as a program for its `pick_ports`:

    python3 scripts/lib/common.py ports N     # N distinct free 127.0.0.1 ports on one line
"""

from __future__ import annotations

import socket
import sys


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1.

    The kernel picks each (bind to port 0) while all the sockets are held, so the ports are
    distinct. There is an unavoidable small race between picking and the server binding.
    """
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    """One free TCP port on 127.0.0.1."""
    return free_ports(1)[0]


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "ports" and argv[2].isdigit():
        print(" ".join(str(p) for p in free_ports(int(argv[2]))))
        return 0
    print(f"usage: {argv[0]} ports N", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
