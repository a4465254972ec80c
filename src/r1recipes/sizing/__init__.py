"""`make check`: memory, time and cost of a recipe on GPUs, estimated from model configs alone, and the measured
peaks that hold the estimates to account."""
