"""Flow collectors: each turns one source format into learner.model.Flow values."""
