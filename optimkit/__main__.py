import sys

from optimkit.cli import main

sys.exit(main())
