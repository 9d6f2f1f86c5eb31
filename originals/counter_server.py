"""The counter server: a thread per client, and one counter behind a lock.

A Python version of the original counter tutorial, kept as simple as the
tutorial keeps it. Each client that connects gets its own thread and a number
(Client 1, Client 2, ...). The server reads one message, answers it, and
closes the connection.

Run it, then run counter_client.py in a second terminal:

    python3 originals/counter_server.py
    python3 originals/counter_server.py --port 0    # let the OS pick a port

Stop it with Ctrl-C.
"""

import argparse
import socket
import threading

HOST = 'localhost'
PORT = 65434

# Every client thread reads and changes this number, so every access goes
# through counter_lock. Without the lock, two threads could read the same
# old value and hand out the same client number twice. (The tutorial says it
# tracks the connected clients, but nothing ever lowers it: it counts every
# client that ever connected, which is what makes it an id.)
client_counter = 0
counter_lock = threading.Lock()


def handle_client(client_socket, address):
    """Serve one client, on its own thread, from greeting to goodbye."""
    global client_counter

    # Increment and read under the same lock, so the number we keep is the
    # one we wrote, not one another thread wrote a moment later.
    with counter_lock:
        client_counter += 1
        client_id = client_counter

    print(f"Client {client_id} connected from {address}", flush=True)

    # Like the original, we trust a single recv() to bring the whole message.
    # Over TCP that is only luck: a message can arrive in pieces, and anything
    # past 1024 bytes is never read. Bytes that are not UTF-8 make decode()
    # raise and this thread dies. A client that sends nothing keeps this
    # thread waiting for ever. The lessons take these one by one.
    data = client_socket.recv(1024).decode()
    print(f"Client {client_id} says: {data}", flush=True)

    reply = f"Hello Client {client_id}, server received your message!"
    client_socket.sendall(reply.encode())

    client_socket.close()
    print(f"Client {client_id} disconnected.", flush=True)


def start_server(port=PORT):
    server_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server_socket.bind((HOST, port))
    # A backlog of 5: connections the kernel will hold while we are busy
    # between two accept() calls. Past that, new clients wait in silence.
    server_socket.listen(5)

    # With --port 0 the OS chooses the port; show the one we really got.
    bound_port = server_socket.getsockname()[1]
    print(f"Server is listening on port {bound_port}...", flush=True)

    # No way out of this loop but Ctrl-C, which ends it with a traceback.
    # The client threads are ordinary threads, so Python then waits for each
    # of them to finish before the process exits.
    while True:
        client_socket, address = server_socket.accept()
        # One new thread per client, with no upper limit.
        thread = threading.Thread(target=handle_client, args=(client_socket, address))
        thread.start()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The counter server.")
    parser.add_argument("--port", type=int, default=PORT,
                        help=f"port to listen on (default {PORT}; 0 lets the OS choose)")
    args = parser.parse_args()
    start_server(args.port)
