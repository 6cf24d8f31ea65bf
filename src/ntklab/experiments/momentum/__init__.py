"""Bu, Xu & Chen (2021) (``momentum``): GD, heavy ball, NAG and NAG-SC on a two-layer ReLU net against the
NTK-linearised discrete and ODE predictions.

A recipe: it uses the library (config, data, nets, kernels, dynamics, runs, report) and is never imported by it.
"""
