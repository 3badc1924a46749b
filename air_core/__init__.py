"""AiR: augmenting discriminative richness via diffusions, for unsupervised prompt learning of CLIP.

The library behind the Snakemake workflow. It never imports snakemake: every stage is a
plain function that takes typed arguments, so each can be called from a test or a notebook.
"""

__version__ = "0.1.0"
