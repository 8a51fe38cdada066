"""Property tests of the pure core: one hypothesis property per rule, and a state machine."""
