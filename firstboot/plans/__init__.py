"""Pure decisions of the agent: each takes facts the steps gathered and returns what to do.

No I/O here (no files, commands, clocks or network): the steps in firstboot/steps/ gather, ask a
plan, and act on its answer, so every short-circuit is a branch of a function the unit tests call
with plain values.
"""
