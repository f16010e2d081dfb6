"""The graph layer's kernel: one definition of vertices and edges, engines and clients built from it."""
