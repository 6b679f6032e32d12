"""Evaluation: a per-dataset domain classifier, a registry of sample-quality metrics, and the
functions that score images, models and checkpoints with them.

    classifier.py  the domain classifier (feature extractor), trained once and cached
    features.py    feature spaces (classifier / optional Inception-v3) and the real reference set
    catalog.py     what each metric returns: keys, better side, unit, help, display order (no torch)
    registry.py    the metrics: small functions of a Context returning named floats
    api.py         evaluate_images / evaluate_model / evaluate_checkpoint / make_evaluator

``gvcore.metrics`` re-exports the public names.
"""
