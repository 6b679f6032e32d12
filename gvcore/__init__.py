"""gv: which generative model family works best on my data, and how hard is each to tune?"""

__version__ = "0.1.0"
