import sys

from pgdba.cli import main

sys.exit(main())
