"""Evaluation: a per-dataset domain classifier, a registry of sample-quality metrics, and the
functions that score images, models and checkpoints with them.

    classifier.py    the evaluator's networks (classifier, reader, classifier2), trained once and cached
    features.py      Evaluator (the networks + feature space) and the real reference set
    catalog.py       what each metric returns: keys, better side, unit, help, network (no torch)
    registry.py      the metrics: small functions of a Context returning named floats
    stats.py         bootstrap standard errors
    memorization.py  nearest training images, the near-copy rule
    cas.py           Classification Accuracy Score
    ladders.py       the sanity suite (`gv evaluator check`)
    api.py           evaluate_images / evaluate_model / evaluate_checkpoint / make_evaluator

Import what you need from its module (``from gvcore.evaluation.api import make_evaluator``).
"""
