"""Doing less work when requests arrive together.

`BatchProcessor` groups concurrent calls into micro-batches (seed 000);
`SingleFlight` lets identical concurrent calls share one execution.
"""
