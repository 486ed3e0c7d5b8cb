"""One runnable script per experiment, and the runner they share."""
