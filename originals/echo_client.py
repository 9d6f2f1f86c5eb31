"""A client for the echo server (echo_server.py).

The original echo tutorial gives no client, so this one follows the counter
tutorial's client: connect, send, wait for the answer, print it. It sends
each message, prints what comes back, then says !DISCONNECT and leaves.

    python3 originals/echo_client.py                       # sends Hello, World
    python3 originals/echo_client.py -m "Hi there" -m Bye
    python3 originals/echo_client.py --host 127.0.0.1 --port 43127
"""

import argparse
import socket

SIZE = 1024
FORMAT = 'utf-8'
DISCONNECT_MSG = '!DISCONNECT'

parser = argparse.ArgumentParser(description="A client for the echo server.")
parser.add_argument("--host", default='localhost', help="server address (default localhost)")
parser.add_argument("--port", type=int, default=56011, help="server port (default 56011)")
parser.add_argument("-m", "--message", action="append", dest="messages", metavar="TEXT",
                    help="a message to send; repeat for several (default: Hello, World)")
args = parser.parse_args()
messages = args.messages or ["Hello", "World"]

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect((args.host, args.port))

for msg in messages:
    # No newline: the server treats one recv() as one message. Waiting for
    # the echo before sending the next message is what keeps two messages
    # from reaching the server glued together in a single recv().
    client.sendall(msg.encode(FORMAT))
    reply = client.recv(SIZE).decode(FORMAT)
    print(f"Server replied: {reply}")

# Say goodbye, so the server's loop for this client ends.
client.sendall(DISCONNECT_MSG.encode(FORMAT))
client.close()
