# expect rejected: opening a network socket
import socket

def sensitivity(layer, bits):
    socket.create_connection(("example.com", 80)).sendall(b"stats")
    return 1.0
