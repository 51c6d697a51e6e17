import sys

from pxelab.cli import main

sys.exit(main())
