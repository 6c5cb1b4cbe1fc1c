"""Gradient checking: `numerical` says how to check a gradient (centred differences, relative
error, inputs away from kinks); `every_layer` checks every registered layer type's own cases and
both losses, as `volnet gradcheck` prints them."""
