import sys

from volnet.cli.main import main

sys.exit(main(["bench", *sys.argv[1:]]))
