"""gpulens: reads PyTorch training scripts and tells you what they will cost."""

__version__ = "0.1.0"
