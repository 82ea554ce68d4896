"""Alternative mapping engines: the ecosystem's own mappers driven on the SpikeX spec."""
