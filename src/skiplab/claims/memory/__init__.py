"""Memory: reversible blocks that reconstruct their inputs instead of storing them."""
