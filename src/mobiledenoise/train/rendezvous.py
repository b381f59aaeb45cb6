"""Before a multi-worker run starts TensorFlow's cluster: wait until every worker of TF_CONFIG
answers on its address, or stop with one line.

TensorFlow's cluster start (`MultiWorkerMirroredStrategy()`) waits for every task without a
timeout, inside C++ that holds the GIL: neither Ctrl-C, SIGTERM nor a Python timer thread can
end that wait, so one worker that was never started hangs the others for good. Here each
worker first listens on its own TF_CONFIG address and connects to every peer's, in Python, with
`worker_timeout_s` as the deadline, sending its own address. A task goes on to TensorFlow
once it has reached every peer and heard from every peer; the listener then closes and
TensorFlow's server takes the same port.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time

from mobiledenoise.errors import UserError

CLUSTER_JOBS = ("chief", "worker")  # the tasks that train; an evaluator does not join
RETRY_S = 0.2


def cluster_addresses(tf_config: str | None = None) -> tuple[str, list[str]]:
    """(this task's address, its peers' addresses) from TF_CONFIG; ("", []) without a cluster."""
    text = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    try:
        config = json.loads(text) if text.strip() else {}
        cluster, task = config.get("cluster", {}), config.get("task", {})
        addresses = [a for job in CLUSTER_JOBS for a in cluster.get(job, [])]
        me = cluster[task["type"]][task["index"]] if cluster else ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise UserError(f"expected TF_CONFIG as JSON with a cluster and this task's type and "
                        f"index, received {text!r}; see the README's multi-worker "
                        "example") from None
    return me, [a for a in addresses if a != me]


def wait_for_peers(timeout_s: float, tf_config: str | None = None) -> None:
    """Return once this task has reached every peer and heard from every peer; a UserError
    naming the silent ones after `timeout_s` seconds. Nothing to wait for without TF_CONFIG or
    in a one-task cluster."""
    me, peers = cluster_addresses(tf_config)
    if not peers:
        return
    listener = _listen(me)
    heard: set[str] = set()
    stop = threading.Event()
    answering = threading.Thread(target=_answer, args=(listener, heard, stop), daemon=True)
    answering.start()
    try:
        missing = _meet(me, peers, heard, time.monotonic() + timeout_s)
    finally:
        stop.set()
        answering.join()  # a blocked accept() keeps the port bound after close()
        listener.close()
    if missing:
        raise UserError(f"expected every worker of TF_CONFIG to start within worker_timeout_s = "
                        f"{timeout_s:g} s, received no answer from {', '.join(missing)}; start "
                        "the missing workers (each with its own task index) or fix their "
                        "addresses")


def _listen(address: str) -> socket.socket:
    port = int(address.rsplit(":", 1)[1])
    try:
        return socket.create_server(("", port))
    except OSError as exc:
        raise UserError(f"expected this worker's TF_CONFIG port {port} to be free, received "
                        f"{exc.strerror}; stop what uses it or give this task another "
                        "port") from None


def _answer(listener: socket.socket, heard: set[str], stop: threading.Event) -> None:
    """Record the address each connecting peer sends."""
    listener.settimeout(RETRY_S)  # also how soon `stop` is seen
    while not stop.is_set():
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:  # closed by wait_for_peers
            return
        with connection:
            connection.settimeout(1.0)
            try:
                message = b""
                while chunk := connection.recv(256):  # to the peer's close: the peer closes
                    message += chunk                  # first, so no TIME_WAIT holds our port
                heard.add(message.decode(errors="replace"))
            except OSError:
                pass


def _meet(me: str, peers: list[str], heard: set[str], deadline: float) -> list[str]:
    """Send `me` to every peer and wait to hear from each; the peers missing at `deadline`.
    A task keeps listening until it has heard from all, so a peer that reaches it late still
    finds it: neither side can finish before both have met."""
    unreached = list(peers)
    while True:
        for peer in list(unreached):
            host, port = peer.rsplit(":", 1)
            try:
                with socket.create_connection((host, int(port)), timeout=RETRY_S) as connection:
                    connection.sendall(me.encode())
                unreached.remove(peer)
            except OSError:
                pass
        missing = [p for p in peers if p in unreached or p not in heard]
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(RETRY_S)
