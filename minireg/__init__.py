"""minireg: a small deep-learning framework that makes regularization transparent."""
__version__ = "0.1.0"
