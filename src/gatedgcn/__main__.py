import sys

from gatedgcn.cli import main

sys.exit(main())
