"""The regime check (``regime``): kernel drift and weight movement against width under the ntk, standard, mup,
meanfield and asymmetric parameterisations, with a coordinate check.

A recipe: it uses the library (config, data, nets, kernels, dynamics, runs, report) and is never imported by it.
"""
