"""The read path's shared machinery: the recommendation cache and the service metrics."""
