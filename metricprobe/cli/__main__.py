import sys

from metricprobe.cli import main

sys.exit(main())
