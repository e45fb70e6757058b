"""numdl's benchmark suite: numdl against PyTorch and hand-written NumPy."""
