"""What depth does to plain and residual nets: degradation and its cause, vanishing gradients, exploding residual
branches without normalization, and how easily each learns the identity. ladder.py holds the depth ladder (plain
and residual twins at several depths) that this chapter and others read."""
