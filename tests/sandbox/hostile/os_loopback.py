# expect rejected: with real sockets: a TCP connection to a listener on the host's loopback (IPv4 and IPv6), a Unix socket file and an abstract Unix socket
import socket

HARNESS_DIR = "/nonexistent"
HARNESS_PORT = 0


def sensitivity(layer, bits):
    reached = []
    targets = [(socket.AF_INET, ("127.0.0.1", HARNESS_PORT)), (socket.AF_INET6, ("::1", HARNESS_PORT)),
               (socket.AF_UNIX, f"{HARNESS_DIR}/listen.sock"),
               (socket.AF_UNIX, f"\0tapq-harness-{HARNESS_PORT}")]
    for family, address in targets:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(1)
                sock.connect(address)
                sock.sendall(b"stats")
                reached.append(str(address))
        except OSError:
            pass
    raise ValueError(f"HOST-EFFECT: reached {reached}" if reached else "nothing reached")
