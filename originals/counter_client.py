"""The counter server's client: say hello once, print the answer, leave.

A Python version of the client from the original counter tutorial. Start
counter_server.py first, then run this as many times as you like; each run
is a new client with a new number:

    python3 originals/counter_client.py
    python3 originals/counter_client.py --host 127.0.0.1 --port 43127
"""

import argparse
import socket

parser = argparse.ArgumentParser(description="A client for the counter server.")
parser.add_argument("--host", default='localhost', help="server address (default localhost)")
parser.add_argument("--port", type=int, default=65434, help="server port (default 65434)")
args = parser.parse_args()

client_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client_socket.connect((args.host, args.port))

# No newline at the end: the server takes whatever one recv() returns as the
# whole message, so there is nothing to mark where the message stops.
client_socket.sendall("Hello, Server!".encode())

# The same hope on this side: that the whole answer arrives in one piece.
response = client_socket.recv(1024).decode()
print(f"Server replied: {response}")

client_socket.close()
