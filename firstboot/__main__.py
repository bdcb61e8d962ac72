"""`python3 -m firstboot` is `python3 -m firstboot.agent`."""

import sys

from firstboot.cli import main

sys.exit(main())
