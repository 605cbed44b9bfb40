"""The parts model families are built from, shared by several of them and by the tools that dissect them: small
layers (input normalization, conv/norm factories, shortcuts, the residual scale h, He init), the update rules of
a residual block read as an ODE step (integrators), operator norms of linear layers, reversible coupling blocks with
their memory-saving autograd function, Fixup initialization, and the depth/width/resolution scaling of the
scalable families with the skeleton they share. None of them is a family and none registers a model.

`layers`, `integrators` and `operator_norm` import nothing from `skiplab.models`; the block kinds of the interface
(`models/blocks.py`) are made of them. `reversible`, `fixup` and `scaling` build on that interface (`Block`, `Net`).
This file imports nothing, so the interface can import the parts it needs without a cycle."""
