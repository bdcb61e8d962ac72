"""`python3 -m firstboot` is `python3 -m firstboot.agent`."""

import sys

from firstboot.agent import main

sys.exit(main())
