"""`python -m itscam`: the same as the `itscam` console script (the stage processes the demo and tests start)."""

import sys

from itscam.main import main

sys.exit(main())
