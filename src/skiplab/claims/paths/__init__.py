"""The unrolled view: a residual net as an ensemble of paths (lesions, the exact unrolled sum) and which paths
carry the gradient."""
