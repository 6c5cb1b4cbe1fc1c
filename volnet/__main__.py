import sys

from volnet.cli.main import main

sys.exit(main())
