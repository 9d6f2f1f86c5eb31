"""The message-queue server: client threads, one queue, one processing thread.

A Python version of the original message-queue tutorial. The tutorial
describes its parts (print_lock, client_connections, client_counter,
message_queue and a daemon processing thread) but gives no code, no port and
no protocol; the port (65432) and the line protocol below are the ones the
course's lessons chose, so the same clients work with this server and theirs.

Each client gets a thread that only reads. What it reads goes into
message_queue; a single processing thread takes messages out, in order, and
sends every reply. A client can talk to another one with "@2 hello".

    python3 originals/queue_server.py
    python3 originals/queue_server.py --port 0     # let the OS pick a port
    nc 127.0.0.1 65432                             # one per terminal, or:
    cargo run --bin client -- queue

Stop it with Ctrl-C.
"""

import argparse
import queue
import re
import socket
import threading

HOST = 'localhost'
PORT = 65432
DISCONNECT_MSG = '!DISCONNECT'

# Many threads print; the lock keeps their lines from running into each other.
print_lock = threading.Lock()

# "Client 1" -> that client's socket: how a reply finds its way back.
# There is no lock around it. Each single step on a dict (add, look up,
# remove) is safe in CPython, and that is all this program does with it.
client_connections = {}

# The number for the next client. Only the accept loop changes it, so it
# needs no lock (compare the counter server, where every thread does).
client_counter = 1

# Unbounded: a client that floods the server makes it grow without limit.
message_queue = queue.Queue()

# "@2 hello": a client number (digits, no leading zero), one space, and the text.
DIRECT = re.compile(r"@(0|[1-9][0-9]*) (.*)", re.DOTALL)


def safe_print(text):
    with print_lock:
        print(text, flush=True)


def strip_newline(msg):
    """Drop one line ending: clients such as nc send lines."""
    if msg.endswith("\r\n"):
        return msg[:-2]
    if msg.endswith("\n"):
        return msg[:-1]
    return msg


def send_line(client_id, line):
    """Send one line to a client, if it is still registered.

    A plain blocking sendall(): if that client stops reading, its buffers
    fill, this call waits, and since only the processing thread sends, every
    other client waits with it. Nor is any error caught: a send to a client
    that has gone raises BrokenPipeError (or ConnectionResetError) and ends
    the processing thread, after which nobody gets a reply. Lesson 3 fixes
    both.
    """
    conn = client_connections.get(client_id)
    if conn is None:
        return False
    conn.sendall((line + "\n").encode())
    return True


def handle_client(client_id, conn, addr):
    """Read one client's messages and queue them. This thread never replies."""
    client_connections[client_id] = conn
    safe_print(f"{client_id} connected from {addr}")
    conn.sendall(f"Welcome, {client_id}! Send a line, @<n> <text> to talk to "
                 f"Client <n>, {DISCONNECT_MSG} to leave.\n".encode())

    while True:
        # One recv() is one message, as in the other tutorials: two lines
        # that arrive together are one message, and a long one is cut up.
        # Bytes that are not UTF-8 make decode() raise: the thread dies, and
        # the client stays in client_connections for good.
        data = conn.recv(1024)
        if not data:
            # End of stream: the client has gone without saying goodbye.
            message_queue.put((client_id, None))
            break
        text = strip_newline(data.decode())
        message_queue.put((client_id, text))
        if text == DISCONNECT_MSG:
            break
    # Leaving goes through the queue like any message, so the processing
    # thread answers everything this client sent before it forgets it.


def process_messages():
    """The processing thread: take each message from the queue, in order,
    and answer it."""
    while True:
        client_id, text = message_queue.get()

        # None means end of stream; DISCONNECT_MSG is a polite goodbye.
        if text is None or text == DISCONNECT_MSG:
            if text == DISCONNECT_MSG:
                send_line(client_id, f"Goodbye, {client_id}.")
            conn = client_connections.pop(client_id)
            conn.close()
            safe_print(f"{client_id} disconnected.")
            continue

        safe_print(f"{client_id} says: {text}")

        if not text.startswith("@"):
            send_line(client_id, f"Processed: {text}")
            continue

        direct = DIRECT.fullmatch(text)
        if direct is None:
            send_line(client_id, "ERROR: a direct message is @<client number> <text>, as in @2 hello")
            continue

        target = f"Client {int(direct.group(1))}"
        body = direct.group(2)
        if send_line(target, f"From {client_id}: {body}"):
            send_line(client_id, f"Delivered to {target}: {body}")
        else:
            send_line(client_id, f"ERROR: there is no {target}")


def main(port=PORT):
    global client_counter

    server_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server_socket.bind((HOST, port))
    server_socket.listen(5)

    # A daemon thread, so that Ctrl-C can end the program at all: a plain
    # thread waiting on an empty queue would keep it running for ever. The
    # price: when the program ends, whatever is still in the queue dies with
    # this thread, unanswered, and its senders are never told. Lesson 3
    # shows how to stop without losing them.
    threading.Thread(target=process_messages, daemon=True).start()

    safe_print(f"Server is listening on port {server_socket.getsockname()[1]}...")

    try:
        while True:
            conn, addr = server_socket.accept()
            client_id = f"Client {client_counter}"
            client_counter += 1
            # Daemon threads too, so that Ctrl-C ends the server even with
            # clients connected; they are simply cut off. (The tutorial makes
            # only the processing thread a daemon and says nothing of these;
            # ordinary threads would keep Python running after Ctrl-C until
            # every client had left, where its summary has the program end.)
            threading.Thread(target=handle_client, args=(client_id, conn, addr),
                             daemon=True).start()
    except KeyboardInterrupt:
        safe_print("Server is shutting down...")
    finally:
        server_socket.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The message-queue server.")
    parser.add_argument("--port", type=int, default=PORT,
                        help=f"port to listen on (default {PORT}; 0 lets the OS choose)")
    args = parser.parse_args()
    main(args.port)
