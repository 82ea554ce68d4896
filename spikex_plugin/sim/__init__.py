"""Trace-driven simulators of SpikeX (and PTB) layers, independent of the analytic cost model:
they walk the loop nest tile by tile on an actual spike trace, count every access and run
the array and buffer ports cycle by cycle (see `spikex.py`, `engine.py`)."""
