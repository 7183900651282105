"""Load benchmarks of a real `corral serve`; run them with `python -m benchmarks.run`."""
