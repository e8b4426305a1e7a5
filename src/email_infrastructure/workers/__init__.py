"""The workers face: task bodies on a task queue (saq on Redis), or the in-process runner."""
