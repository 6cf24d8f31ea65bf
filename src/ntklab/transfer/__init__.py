"""Transfer (Caron et al.): the top-k nodes' features sqrt(lambda_j) sigma(w_j^T x / sqrt(d)) of a trained
network, fitted on held-out data by a fresh MLP (the paper; repeated over initialisations) or a closed-form ridge readout
(on the raw features, or standardised ones: invariant to each feature's scale).

May import: layer 1, ``data``, ``nets``, ``dynamics`` and ``prune`` (its node order); never ``runs`` or above.
"""

from ._curve import MLP_REPEAT_STRIDE as MLP_REPEAT_STRIDE
from ._curve import PAPER_MLP as PAPER_MLP
from ._curve import READOUTS as READOUTS
from ._curve import transfer_curves as transfer_curves
from ._curve import transfer_features as transfer_features
from ._readouts import MLPProblem as MLPProblem
from ._readouts import fit_mlps as fit_mlps
from ._readouts import fit_ridge as fit_ridge
from ._readouts import predict_ridge as predict_ridge
