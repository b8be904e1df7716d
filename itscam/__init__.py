"""`itscam`, the one console script: the command-line composition root.

One module per command group (itscam/stack.py is `itscam stack`, itscam/db.py is `itscam db`, ...): each declares
its group's flags, builds the settings of the package that does the work and calls it. The work itself lives in
that package (the stages, eventbus/, projections/, deploy/); nothing imports this package but the console script.
"""
