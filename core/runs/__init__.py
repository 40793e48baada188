"""Data-set-wide runs: one engine (:mod:`~relscope.core.runs.batch_loop`) that takes samples in
fixed batches through a job, resumably and shardably, and the runs built on it
(:class:`~relscope.core.runs.dataset_attribution.DatasetAttribution`)."""
