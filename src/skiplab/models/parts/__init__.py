"""The parts model families are built from: small layers (input normalization, conv/norm factories, shortcuts, the
residual scale h, He init), the update rules of a residual block read as an ODE step (integrators), operator norms
of linear layers as maps of whole inputs, reversible coupling blocks with their memory-saving autograd function,
Fixup initialization, and the depth/width/resolution scaling of the scalable families with the skeleton they share.
None is a family and none registers a model. Each serves several families, or a family and the probes or claims:
`reversible` serves RevNet alone among the families but knows nothing of its architecture (any F and G), and the
reversible-memory claim uses it directly.

`layers`, `integrators` and `operator_norm` import nothing from `skiplab.models`; the block kinds of the interface
(`models/blocks.py`) are made of them. `reversible`, `fixup` and `scaling` build on that interface (`Block`, `Net`).
This file imports nothing, so the interface can import the parts it needs without a cycle."""
