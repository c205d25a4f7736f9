"""Training: the run config, one loop for single runs, chunks of K members and PQL, run folders, sweeps, and
collection into run tables.

Modules, top down: ``worker`` (the one entry point every executor hands a job to), ``sweep`` and
``ray_executor`` (many runs), ``loop`` (the training loop) with ``collectors`` (how transitions are
gathered), ``learners`` (who updates, when) and ``replay``; ``config`` (every setting) and ``rundir``
(everything on disk); ``collect`` (run folders -> run table).
"""
