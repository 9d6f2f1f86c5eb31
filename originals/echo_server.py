"""MultiThreadServer.py: an echo server with a thread per client.

A Python version of the original echo tutorial, which describes its program
but does not list it. Each client gets its own thread; everything it sends
comes back unchanged, until it sends !DISCONNECT.

Run it, then talk to it with echo_client.py, nc, or the course's client:

    python3 originals/echo_server.py
    python3 originals/echo_server.py --port 0    # let the OS pick a port
    python3 originals/echo_client.py             # in a second terminal
    nc 127.0.0.1 56011                           # or type lines yourself

It can also be imported, as the tutorial suggests:

    import echo_server
    echo_server.main()

Ctrl-C stops it the tutorial's way: with a traceback, after which Python
still waits for every connected client to leave.
"""

import argparse
import socket
import threading

IP = 'localhost'
PORT = 56011
ADDR = (IP, PORT)
SIZE = 1024
FORMAT = 'utf-8'
DISCONNECT_MSG = '!DISCONNECT'


def strip_newline(msg):
    """Drop one line ending, so a client that sends lines (nc, for one) can
    still say !DISCONNECT. The echo itself keeps the line ending."""
    if msg.endswith("\r\n"):
        return msg[:-2]
    if msg.endswith("\n"):
        return msg[:-1]
    return msg


def handle_client(conn, addr):
    """Echo one client's messages back to it until it says goodbye."""
    print(f"[New Connection] Client connected from {addr}", flush=True)

    connected = True
    while connected:
        # What one recv() returns is taken as one message, as in the
        # tutorial. TCP does not keep messages apart: two quick messages can
        # arrive as one, and a long one in pieces. A piece that cuts a UTF-8
        # character in two makes decode() raise, and the thread dies.
        msg = conn.recv(SIZE).decode(FORMAT)

        # An empty result means the client has closed its side: nothing more
        # will ever come. Many versions of this tutorial forget this check;
        # their loop then receives "" for ever, printing empty messages at
        # 100% CPU. We stop here, so the program can be tested unattended.
        if not msg:
            break

        text = strip_newline(msg)
        if text == DISCONNECT_MSG:
            connected = False
        else:
            print(f"[{addr}] {text}", flush=True)
            # send() may write only part of the message; the tutorial does
            # not check how much went out, and neither do we.
            conn.send(msg.encode(FORMAT))

    conn.close()
    print("[Client disconnected]", flush=True)


def main(addr=ADDR):
    print("[STARTING] Server is starting...", flush=True)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(addr)
    server.listen(5)

    # With port 0 the OS chooses; show the port we really got.
    print(f"[LISTENING] Server is listening on port {server.getsockname()[1]}", flush=True)

    # No shutdown path: the loop runs until Ctrl-C interrupts accept().
    # The client threads are plain threads, so after the traceback Python
    # waits for each one, and a client that never leaves keeps it alive.
    while True:
        conn, addr = server.accept()
        thread = threading.Thread(target=handle_client, args=(conn, addr))
        thread.start()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="MultiThreadServer.py, an echo server.")
    parser.add_argument("--port", type=int, default=PORT,
                        help=f"port to listen on (default {PORT}; 0 lets the OS choose)")
    args = parser.parse_args()
    main((IP, args.port))
