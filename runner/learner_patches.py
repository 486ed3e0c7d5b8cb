"""Imported by every Ray worker of a run, after the run's own modules (``worker_preload`` in
runner/connect.py): the one place the process-wide patches a learner needs are switched on,
not a learner's ``build()``. Each epoch's minibatch shuffle gathers rows through NumPy (the
same rows, ~3× faster for a batch of frames; suite/patches.py)."""

from suite import patches

patches.numpy_batch_shuffle()
