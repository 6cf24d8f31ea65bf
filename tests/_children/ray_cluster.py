"""Child process for the Ray tests: a real two-node Ray cluster on loopback (head + one worker node).

Prints ``ADDRESS host:port`` once both nodes are up, then holds the cluster until stdin closes or SIGTERM
arrives, and shuts both nodes down.  Each node has one CPU, so a two-unit sweep uses both nodes.
"""

import signal
import sys

from ray.cluster_utils import Cluster

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
print(f"ADDRESS {cluster.address}", flush=True)


def stop(*_):
    cluster.shutdown()
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
sys.stdin.read()
stop()
