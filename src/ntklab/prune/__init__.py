"""Pruning (Caron et al.): order the hidden nodes by importance sum_k u_kj^2 lambda_j (or displacement, or at
random) and remove them cumulatively through the network's mask, recording the risk after every 5 % of m.

May import: layer 1, ``data``, ``nets`` and ``dynamics`` (its risk); never ``runs`` or anything above.
"""

from ._curve import evaluate as evaluate
from ._curve import prune_nodes as prune_nodes
from ._curve import pruning_counts as pruning_counts
from ._curve import pruning_curve as pruning_curve
from ._order import ORDERS as ORDERS
from ._order import node_importance as node_importance
from ._order import prune_order as prune_order
from ._order import top_nodes as top_nodes
