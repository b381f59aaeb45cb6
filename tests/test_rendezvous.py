"""The multi-worker rendezvous in-process: TF_CONFIG parsing, peers that answer, a silent one."""

import json
import socket
import threading
import time

import pytest
from conftest import free_ports

from mobiledenoise.errors import UserError
from mobiledenoise.train.rendezvous import cluster_addresses, wait_for_peers


def _config(addresses: list[str], index: int) -> str:
    return json.dumps({"cluster": {"worker": addresses},
                       "task": {"type": "worker", "index": index}})


def test_cluster_addresses_splits_this_task_from_its_peers():
    config = json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:2", "c:3"],
                                     "evaluator": ["d:4"]}, "task": {"type": "worker", "index": 1}})
    assert cluster_addresses(config) == ("c:3", ["a:1", "b:2"])
    assert cluster_addresses("") == ("", [])


@pytest.mark.parametrize("text", ["{not json", '{"cluster": {"worker": ["a:1"]}}',
                                  _config(["a:1"], 3)])
def test_a_malformed_tf_config_is_one_clear_error(text):
    with pytest.raises(UserError, match="expected TF_CONFIG as JSON"):
        cluster_addresses(text)


def test_two_tasks_find_each_other_whichever_starts_first():
    addresses = [f"127.0.0.1:{p}" for p in free_ports(2)]
    errors = []

    def task(index, delay):
        time.sleep(delay)
        try:
            wait_for_peers(10, _config(addresses, index))
        except UserError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=task, args=(0, 0.0)),
               threading.Thread(target=task, args=(1, 1.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors and not any(t.is_alive() for t in threads)


def test_a_silent_peer_is_named_after_the_timeout():
    mine, silent = (f"127.0.0.1:{p}" for p in free_ports(2))
    began = time.monotonic()
    with pytest.raises(UserError, match=f"no answer from {silent};"):
        wait_for_peers(1.0, _config([mine, silent], 0))
    assert 1.0 <= time.monotonic() - began < 5


def test_a_busy_own_port_is_one_clear_error():
    with socket.create_server(("", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(UserError, match=f"port {port} to be free"):
            wait_for_peers(1.0, _config([f"127.0.0.1:{port}", "127.0.0.1:1"], 0))
