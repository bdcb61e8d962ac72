"""`python -m localcloud up|down|status|env|serve` (the builder's `odoo-droplet local ...` calls
`localcloud.control.main`)."""

import sys

from localcloud.control import main

if __name__ == "__main__":
    sys.exit(main())
