"""The read path's shared machinery: the runtime (pipeline, models and catalog of a process,
hot-swapped), the recommendation cache and the service metrics."""
