"""Numba kernels: plain functions over arrays, no Python objects.

activations  f and f' by integer code            dense     forward of one layer
costs        C and BP1 by integer code           backprop  BP2, BP3, BP4
update       parameter updates                   layout    flat buffers and the layer table
step         whole-batch and whole-epoch kernels that tie them together
"""
